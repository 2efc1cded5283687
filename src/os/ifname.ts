// Linux interface names, checked as the kernel checks them. Kept apart from
// the protocol so that code without zod (the datapath thread) can use it.

/** IFNAMSIZ - 1: the kernel's limit on an interface name, in bytes. */
export const MAX_IFNAME_BYTES = 15;

/**
 * Why `name` is not a valid Linux interface name, or null if it is one.
 * The kernel's rule (dev_valid_name): 1..15 bytes, not "." or "..", no '/',
 * ':' or whitespace. Control characters are refused too.
 */
export function ifnameProblem(name: string): string | null {
  if (name.length === 0) return 'empty';
  if (Buffer.byteLength(name, 'utf8') > MAX_IFNAME_BYTES) return `longer than ${MAX_IFNAME_BYTES} bytes`;
  if (name === '.' || name === '..') return `'${name}' is not allowed`;
  if (name.includes('/')) return "contains '/'";
  if (name.includes(':')) return "contains ':'";
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/u.test(name)) return 'contains whitespace or a control character';
  return null;
}
