package dev.cronstream;

/**
 * {@link Webhooks#verify} throws it for a request that is not a genuine, fresh Cronstream
 * webhook: answer it with 400 (or 401) and do not act on it. {@link #refusal()} says why.
 */
public class WebhookSignatureException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Why a request was refused. */
  public enum Refusal {
    /** The {@code Cronstream-Signature} header is missing, or lacks {@code t=} or {@code v1=}. */
    NO_SIGNATURE,
    /** Its timestamp is further from now than the tolerance. */
    EXPIRED,
    /** No {@code v1} signature matches the secret: a wrong secret, or a changed body or timestamp. */
    MISMATCH,
    /** The signed body is not an alert event. */
    BAD_BODY,
  }

  private final Refusal refusal;

  WebhookSignatureException(Refusal refusal, String message, Throwable cause) {
    super("cronstream: webhook refused: " + message, cause);
    this.refusal = refusal;
  }

  public Refusal refusal() {
    return refusal;
  }
}
