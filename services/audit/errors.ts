/** The audit service's named errors (stable `code`s). */

/** The record on disk does not verify where the writer must extend it. */
export class AuditLogCorruptError extends Error {
  readonly code = 'AUDIT_LOG_CORRUPT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditLogCorruptError';
  }
}

/** Another live process holds the record's write lock. */
export class AuditLogLockedError extends Error {
  readonly code = 'AUDIT_LOG_LOCKED';
  constructor(
    readonly path: string,
    readonly holderPid: number,
  ) {
    super(`audit record ${path} is locked by process ${holderPid}`);
    this.name = 'AuditLogLockedError';
  }
}

/** A write failed part-way; the log refuses further appends until reopened (which repairs the tail). */
export class AuditLogFailedError extends Error {
  readonly code = 'AUDIT_LOG_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditLogFailedError';
  }
}

/** Events arrived with a hole before them: recording them would leave a gap. */
export class AuditGapError extends Error {
  readonly code = 'AUDIT_GAP';
  constructor(
    readonly expectedSeq: number,
    readonly gotSeq: number,
  ) {
    super(`audit expected stream sequence ${expectedSeq} next, got ${gotSeq}`);
    this.name = 'AuditGapError';
  }
}

/** The stream does not hold what the record says it recorded: it was replaced (or the record belongs to another stream). */
export class AuditStreamMismatchError extends Error {
  readonly code = 'AUDIT_STREAM_MISMATCH';
  constructor(message: string) {
    super(message);
    this.name = 'AuditStreamMismatchError';
  }
}
