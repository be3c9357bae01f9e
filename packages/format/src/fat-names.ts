/**
 * The names a bundle may hold, so that it survives a copy to a FAT32 or exFAT stick
 * (docs/bundle-format.md §Tree). One rule set for both sides: bundlectl checks a bundle
 * tree with it before writing or packing it (bundle/src/media.ts), and the device's zip
 * reader checks every entry name with it (zip-source.ts step 4), so the host never makes a
 * name that the device refuses.
 */

/** Characters FAT and exFAT refuse in a name (besides control characters). */
const FAT_FORBIDDEN = /[<>:"\\|?*]/;

/** The most a FAT32 file can hold is one byte less than 4 GiB (exFAT has no such limit). */
export const FAT32_MAX_FILE = 0xffffffff;

/** The longest name (one path segment) FAT's long file names and exFAT hold. */
export const FAT_MAX_NAME = 255;

/**
 * Why one file name (a single path segment) would not survive FAT/exFAT, or undefined when
 * it would: empty, too long, a control or non-ASCII character, a character FAT refuses, or
 * a trailing dot or space (which FAT drops).
 */
export function fatNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'has an empty name';
  if (name.length > FAT_MAX_NAME) return `has a name longer than ${FAT_MAX_NAME} characters`;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return 'has a control character in its name';
    if (c > 0x7e) return 'has a non-ASCII character in its name';
  }
  if (FAT_FORBIDDEN.test(name)) return 'has a character FAT refuses (<>:"\\|?*) in its name';
  if (name.endsWith('.') || name.endsWith(' '))
    return 'ends with a dot or a space, which FAT drops';
  return undefined;
}

/**
 * A name as FAT and exFAT compare it: they ignore case, so two names with the same fold
 * cannot both exist in one directory. (Names are ASCII by the rules above.)
 */
export const fatFold = (name: string): string => name.toLowerCase();
