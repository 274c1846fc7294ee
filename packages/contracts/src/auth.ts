// The public auth API of the gateway (shapes are a contract: README.md, "HTTP API") and the NATS
// endpoints of auth-service and token-service behind it.
import { Type } from '@sinclair/typebox';
import { defineEndpoint } from './endpoint.ts';
import { ACCESS_TOKEN_EXAMPLE, Jwks, REFRESH_TOKEN_EXAMPLE, TokenPair } from './tokens.ts';

export const VerificationChannel = Type.Union([Type.Literal('sms'), Type.Literal('call'), Type.Literal('whatsapp')], {
  description: 'How the code is delivered; default sms',
});

// Phone numbers are checked by normalizePhoneNumber (so the error carries INVALID_PHONE_NUMBER);
// the schema only bounds the input.
const PhoneNumberInput = Type.String({ minLength: 1, maxLength: 32, description: 'E.164, e.g. +14155552671', examples: ['+14155552671'] });
// Between services the number is already normalised: anything but strict E.164 is refused.
export const E164_PATTERN = '^\\+[1-9]\\d{6,14}$';
const PhoneNumber = Type.String({ pattern: E164_PATTERN, description: 'E.164 phone number', examples: ['+14155552671'] });
const VerificationCode = Type.String({ pattern: '^[0-9]{4,10}$', description: 'The code from the SMS (4-10 digits)', examples: ['123456'] });
const JwtString = Type.String({ minLength: 1, maxLength: 4096, description: 'a compact JWT' });
const SessionId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' });

// ---- HTTP (gateway) ----

export const SendVerificationBody = Type.Object(
  { phone_number: PhoneNumberInput, channel: Type.Optional(VerificationChannel) },
  { additionalProperties: false, examples: [{ phone_number: '+14155552671', channel: 'sms' }] },
);
export const SendVerificationReply = Type.Object({
  message: Type.Literal('Verification code sent successfully'),
  status: Type.Literal('pending'),
});

export const VerifyCodeBody = Type.Object(
  {
    phone_number: PhoneNumberInput,
    code: VerificationCode,
  },
  { additionalProperties: false, examples: [{ phone_number: '+14155552671', code: '123456' }] },
);
export const VerifyCodeReply = Type.Object({
  message: Type.Literal('Verification successful'),
  authenticated: Type.Literal(true),
  tokens: TokenPair,
  phone_number: PhoneNumber,
});
/** The wrong-code answer keeps its login-flow fields and carries the stable `code` like every error. */
export const VerifyCodeWrongCodeReply = Type.Object({
  message: Type.Literal('Invalid verification code'),
  authenticated: Type.Literal(false),
  status: Type.Literal('pending'),
  code: Type.Literal('INVALID_VERIFICATION_CODE'),
});

export const ProtectedReply = Type.Object({
  message: Type.Literal('This is a protected route'),
  phone_number: PhoneNumber,
});

export const RefreshBody = Type.Object(
  { refresh_token: Type.Optional(Type.String({ description: 'Alternative to `Authorization: Bearer <refresh token>`' })) },
  { additionalProperties: false, examples: [{}] },
);
export const RefreshReply = Type.Object({
  access_token: Type.String({ examples: [ACCESS_TOKEN_EXAMPLE] }),
  token_type: Type.Literal('Bearer'),
  refresh_token: Type.String({ description: 'The rotated refresh token; the one sent is now spent', examples: [REFRESH_TOKEN_EXAMPLE] }),
});

export const LogoutReply = Type.Object({ message: Type.Literal('Successfully logged out') });
export const LogoutAllReply = Type.Object({ message: Type.String({ examples: ['Successfully logged out from all devices for +14155552671'] }) });

export function logoutAllMessage(phone: string): string {
  return `Successfully logged out from all devices for ${phone}`;
}

export const ErrorReply = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    code: Type.String({ description: 'Stable machine-readable code, see the README' }),
    message: Type.String(),
    retry_after: Type.Optional(Type.Integer({ description: 'seconds; the same as the Retry-After header' })),
  },
  {
    $id: 'Error',
    examples: [{ statusCode: 401, error: 'Unauthorized', code: 'TOKEN_MISSING', message: 'Authorization header with a Bearer token is required' }],
  },
);

// ---- NATS ----

// A request carries exactly its fields: a caller that sends more is refused, not half-understood.
const strict = { additionalProperties: false } as const;

export const AuthSubjects = {
  sendVerification: defineEndpoint(
    'auth.verification.send',
    Type.Object({ phone_number: PhoneNumber, channel: VerificationChannel }, strict),
    Type.Object({ status: Type.Literal('pending') }),
  ),
  checkVerification: defineEndpoint(
    'auth.verification.check',
    Type.Object({ phone_number: PhoneNumber, code: VerificationCode }, strict),
    Type.Object({ phone_number: PhoneNumber, tokens: TokenPair }),
  ),
};

export const TokenSubjects = {
  issuePair: defineEndpoint(
    'token.pair.issue',
    Type.Object({ phone_number: PhoneNumber }, strict),
    TokenPair,
  ),
  refreshPair: defineEndpoint(
    'token.pair.refresh',
    Type.Object({ refresh_token: JwtString }, strict),
    TokenPair,
  ),
  revokeSession: defineEndpoint(
    'token.session.revoke',
    Type.Object({ sub: PhoneNumber, sid: SessionId }, strict),
    Type.Object({ revoked: Type.Literal(true) }),
  ),
  /** The public keys that verify our tokens; the gateway serves them as its JWKS. */
  publicKeys: defineEndpoint('token.jwks.get', Type.Object({}, strict), Jwks),
  revokeSubject: defineEndpoint(
    'token.subject.revoke',
    Type.Object({ sub: PhoneNumber }, strict),
    Type.Object({ revoked_sessions: Type.Integer({ minimum: 0 }) }),
  ),
};
