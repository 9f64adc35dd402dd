import { Code, ConnectError } from "@connectrpc/connect";
import { create, createFileRegistry, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/**
 * A request field the server rejected, named by its path such as
 * "job.cron.expression", with why.
 */
export interface FieldViolation {
  field: string;
  description: string;
}

/**
 * google.rpc.BadRequest and its FieldViolation, described by hand: the two
 * messages (of google/rpc/error_details.proto) this client decodes from a
 * status's details, without generating all of googleapis. Fields this
 * description lacks (localized_message) are skipped when decoding.
 */
const errorDetailsRegistry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "google/rpc/error_details.proto",
    package: "google.rpc",
    syntax: "proto3",
    messageType: [
      {
        name: "BadRequest",
        field: [
          {
            name: "field_violations",
            jsonName: "fieldViolations",
            number: 1,
            label: 3, // LABEL_REPEATED
            type: 11, // TYPE_MESSAGE
            typeName: ".google.rpc.BadRequest.FieldViolation",
          },
        ],
        nestedType: [
          {
            name: "FieldViolation",
            field: [
              { name: "field", jsonName: "field", number: 1, label: 1, type: 9 }, // string
              { name: "description", jsonName: "description", number: 2, label: 1, type: 9 },
              { name: "reason", jsonName: "reason", number: 3, label: 1, type: 9 },
            ],
          },
        ],
      },
    ],
  }),
  () => undefined,
);

/** The descriptor of google.rpc.BadRequest, for ConnectError.findDetails. */
export const BadRequestSchema: DescMessage = errorDetailsRegistry.getMessage("google.rpc.BadRequest")!;

interface BadRequestShape {
  fieldViolations: { field: string; description: string }[];
}

/**
 * The field violations of every google.rpc.BadRequest detail that err
 * carries (a ConnectError), or an empty list.
 */
export function fieldViolations(err: unknown): FieldViolation[] {
  if (err instanceof InvalidArgumentError) {
    return err.violations;
  }
  if (!(err instanceof ConnectError)) {
    return [];
  }
  const out: FieldViolation[] = [];
  for (const detail of err.findDetails(BadRequestSchema) as unknown as BadRequestShape[]) {
    for (const v of detail.fieldViolations) {
      out.push({ field: v.field, description: v.description });
    }
  }
  return out;
}

/**
 * The base of this package's typed errors. Each is a ConnectError (code,
 * rawMessage, metadata, details and findDetails work as usual, and so does
 * `instanceof ConnectError`) of one status code, so it can be told apart
 * with instanceof:
 *
 *     try { await client.getJob(id) }
 *     catch (e) { if (e instanceof NotFoundError) ... }
 */
export class CronstreamError extends ConnectError {
  constructor(from: ConnectError) {
    super(from.rawMessage, from.code, from.metadata, undefined, from.cause);
    this.details = from.details;
    // ConnectError's own instanceof check accepts errors named "ConnectError"
    // with its fields; keeping the name keeps `e instanceof ConnectError`,
    // and ConnectError.from(e) returning e unchanged.
    this.name = "ConnectError";
  }

  // ConnectError overrides instanceof (it accepts any ConnectError-like
  // error), which subclasses would inherit: restore the prototype check.
  static override [Symbol.hasInstance](v: unknown): boolean {
    return typeof this === "function" && Function.prototype[Symbol.hasInstance].call(this, v);
  }
}

/** INVALID_ARGUMENT, with the google.rpc.BadRequest field violations. */
export class InvalidArgumentError extends CronstreamError {
  /** Which request fields were invalid, and why. */
  readonly violations: FieldViolation[];
  constructor(from: ConnectError) {
    super(from);
    this.violations = fieldViolations(from);
    // Name the violations the server's message does not already name.
    const unnamed = this.violations.filter((v) => !from.rawMessage.includes(v.field));
    if (unnamed.length > 0) {
      const list = unnamed.map((v) => `${v.field}: ${v.description}`).join("; ");
      this.message = `${this.message} (${list})`;
    }
  }
}

/** NOT_FOUND: no such resource on the API key's platform. */
export class NotFoundError extends CronstreamError {}

/** UNAUTHENTICATED: a missing, wrong or revoked key. */
export class UnauthenticatedError extends CronstreamError {}

/** FAILED_PRECONDITION: the resource is in the wrong state (resume a cancelled job). */
export class FailedPreconditionError extends CronstreamError {}

const typed: Partial<Record<Code, new (from: ConnectError) => CronstreamError>> = {
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.NotFound]: NotFoundError,
  [Code.Unauthenticated]: UnauthenticatedError,
  [Code.FailedPrecondition]: FailedPreconditionError,
};

/**
 * translate turns a ConnectError of a code this package types into that
 * typed error; anything else is returned unchanged.
 */
export function translate(err: unknown): unknown {
  if (!(err instanceof ConnectError) || err instanceof CronstreamError) {
    return err;
  }
  const Typed = typed[err.code];
  return Typed ? new Typed(err) : err;
}

/**
 * Thrown by a handler (or found in the `cause` chain of what it throws), it
 * fails the attempt for good: the server records the failure and does not
 * retry it.
 *
 *     throw new NonRetryableError("no such recipient", { cause: err });
 */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NonRetryableError";
  }
}

/** Whether err, or an error in its `cause` chain, is a NonRetryableError. */
export function isNonRetryable(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err; e instanceof Error && !seen.has(e); e = e.cause) {
    if (e instanceof NonRetryableError) {
      return true;
    }
    seen.add(e);
  }
  return false;
}

/**
 * The reason a handler's signal is aborted when the server cancels its
 * execution; `reason` says why: "cancelled", "timeout", "overlap",
 * "lease lost", or "superseded" (a newer attempt of it was assigned).
 */
export class ExecutionCancelledError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`execution cancelled by the server: ${reason || "no reason given"}`);
    this.name = "ExecutionCancelledError";
    this.reason = reason;
  }
}

/**
 * Worker.run rejects with it when its signal was aborted and handlers were
 * still running, or results unacknowledged, at the end of the grace period.
 */
export class GracePeriodExceededError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GracePeriodExceededError";
  }
}

/** Why verifyWebhook refused a request. */
export type WebhookRefusal = "no signature" | "expired" | "mismatch" | "bad body";

/**
 * verifyWebhook throws it for a request that is not a genuine, fresh
 * Cronstream webhook: answer it with 400 (or 401) and do not act on it.
 * `refusal` says why: the Cronstream-Signature header is missing or
 * malformed ("no signature"), its timestamp is outside the tolerance
 * ("expired"), no v1 signature matches the secret ("mismatch"), or the
 * signed body is not an alert event ("bad body").
 */
export class WebhookSignatureError extends Error {
  readonly refusal: WebhookRefusal;
  constructor(refusal: WebhookRefusal, message: string, options?: { cause?: unknown }) {
    super(`cronstream: webhook refused: ${message}`, options);
    this.name = "WebhookSignatureError";
    this.refusal = refusal;
  }
}
