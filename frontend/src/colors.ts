// Class colours: the label's own colour when the project set one, else a stable pick by name.
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#9a6324', '#469990'];

export function hashColor(name: string): string {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

export function labelColor(name: string, color: string | undefined | null): string {
  return color && /^#[0-9a-f]{3,8}$/i.test(color) ? color : hashColor(name);
}
