// Every Redis key the system writes, built in one place. A deployment-wide namespace comes from
// the client's keyPrefix (REDIS_KEY_PREFIX), so these stay short.
export const keys = {
  session: (sid: string) => `session:${sid}`,
  subjectSessions: (sub: string) => `subject-sessions:${sub}`,
  refreshSuccessor: (sid: string) => `refresh-successor:${sid}`,
  revokedBefore: (sub: string) => `revoked-before:${sub}`,
  // Set once, never expires: gone means Redis lost its data (see RedisSessionMirror).
  sessionsEpoch: 'sessions:epoch',
  verificationSent: (phone: string) => `verification-sent:${phone}`,
  verificationApproved: (phone: string, codeHash: string) => `verification-approved:${phone}:${codeHash}`,
  verificationClaim: (phone: string, codeHash: string) => `verification-claim:${phone}:${codeHash}`,
  verificationIssued: (phone: string) => `verification-issued:${phone}`,
  verificationChecks: (phone: string) => `verification-checks:${phone}`,
  verificationWrongCodes: (phone: string) => `verification-wrong-codes:${phone}`,
  smsLastSent: (phone: string) => `sms:last-sent:${phone}`,
  smsSentInHour: (hour: number) => `sms:sent-in-hour:${hour}`,
  plaidUserItems: (user: string) => `plaid:user-items:${user}`,
  plaidItem: (itemId: string) => `plaid:item:${itemId}`,
  plaidItemAccounts: (itemId: string) => `plaid:item-accounts:${itemId}`,
  plaidItemTransactions: (itemId: string) => `plaid:item-txns:${itemId}`,
  plaidItemTransactionDates: (itemId: string) => `plaid:item-txn-dates:${itemId}`,
  plaidWebhookSeen: (tokenDigest: string) => `plaid:webhook-seen:${tokenDigest}`,
};
