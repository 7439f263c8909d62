/** File names inside the audit directory. */
export const AUDIT_FILE_NAME = 'audit.jsonl';
/** Holds the writer's pid while a writer has the record open. */
export const LOCK_FILE_NAME = 'audit.lock';
