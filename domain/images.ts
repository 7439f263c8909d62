/**
 * Image references and the labels of committed images. Pure.
 *
 * A commit (ContainerCommitRequested) is answered with a uuid minted before
 * the commit runs, as Zun answers with the Glance image it creates first. The
 * image Docker makes carries that uuid and the reference it was made as in
 * its labels, so that `/v1/images` shows the image under the uuid the commit
 * answered with (under that reference only: a later tag of the same image is
 * another entry with a derived uuid).
 */

/** Docker's reference grammar: lowercase path components, an optional registry host[:port]. */
export const REPOSITORY_RE = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export const COMMIT_LABELS = {
  uuid: 'zun.image.uuid',
  /** `repository:tag` as committed. */
  ref: 'zun.image.ref',
} as const;

/** What a committed image's labels say about the commit; null for any other image. */
export function committedAs(labels: Readonly<Record<string, string>> | null | undefined): { readonly uuid: string; readonly ref: string } | null {
  const uuid = labels?.[COMMIT_LABELS.uuid];
  const ref = labels?.[COMMIT_LABELS.ref];
  return uuid && ref ? { uuid, ref } : null;
}
