import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { getJson, type ImageOut, type ImagePage, type Project } from '../api/client';
import { linkClick, navigate } from '../router';
import { AuthImage } from './AuthImage';

const PAGE = 100;

export interface Filters {
  filename: string;
  label: string;
  review_status: '' | 'reviewed' | 'unreviewed';
  has_predictions: '' | 'true' | 'false';
  metadata: string; // "key=value"
}

export const NO_FILTERS: Filters = { filename: '', label: '', review_status: '', has_predictions: '', metadata: '' };

/** An evaluation's outcome filters (`evaluation`, `outcome`, `class`, `gt_class`, `pred_class`),
 * taken from the page's address: the evaluation page links here with them. */
export const OUTCOME_KEYS = ['evaluation', 'outcome', 'class', 'gt_class', 'pred_class'] as const;
export type OutcomeFilters = Partial<Record<(typeof OUTCOME_KEYS)[number], string>>;

export function outcomeFilters(search: string): OutcomeFilters {
  const q = new URLSearchParams(search);
  return Object.fromEntries(OUTCOME_KEYS.flatMap((k) => (q.get(k) ? [[k, q.get(k)!]] : [])));
}

function describeOutcome(f: OutcomeFilters): string {
  const parts = [`evaluation #${f.evaluation}`];
  if (f.gt_class || f.pred_class) parts.push(`ground truth ${f.gt_class ?? 'any'} → predicted ${f.pred_class ?? 'any'}`);
  if (f.class) parts.push(`class ${f.class}`);
  if (f.outcome) parts.push({ tp: 'true positives', fp: 'false positives', fn: 'missed ground truth' }[f.outcome] ?? f.outcome);
  return parts.join(', ');
}

export function listUrl(projectId: number, filters: Filters, cursor: string | null, outcome: OutcomeFilters = {}): string {
  const q = new URLSearchParams({ limit: String(PAGE), ...outcome });
  if (cursor) q.set('cursor', cursor);
  if (filters.filename) q.set('filename', filters.filename);
  if (filters.label) q.set('label', filters.label);
  if (filters.review_status) q.set('review_status', filters.review_status);
  if (filters.has_predictions) q.set('has_predictions', filters.has_predictions);
  const at = filters.metadata.indexOf('=');
  if (at > 0) q.set(`metadata.${filters.metadata.slice(0, at).trim()}`, filters.metadata.slice(at + 1).trim());
  return `/api/v1/projects/${projectId}/images?${q}`;
}

/** Remembered for the image view's previous/next (← →). */
export function rememberOrder(projectId: number, ids: string[]): void {
  sessionStorage.setItem(`labelbay.order.${projectId}`, JSON.stringify(ids));
}

export function rememberedOrder(projectId: number): string[] {
  try {
    return JSON.parse(sessionStorage.getItem(`labelbay.order.${projectId}`) ?? '[]') as string[];
  } catch {
    return [];
  }
}

/** Rows rendered above and below the viewport. */
const OVERSCAN_ROWS = 4;
/** Tiles rendered before the grid has been measured (enough for a first screen). */
const FIRST_RENDER = 60;

interface GridWindow {
  cols: number; // columns of the CSS grid (auto-fill), read from its computed tracks
  pitch: number; // a row's height plus the row gap, in pixels
  first: number; // first rendered row
  last: number; // last rendered row (inclusive)
}

/** Which rows of a window-scrolled CSS grid of equal tiles are near the viewport. */
function measureWindow(list: HTMLElement, count: number): GridWindow | null {
  const tile = list.querySelector<HTMLElement>(':scope > li');
  if (!tile) return null;
  const style = getComputedStyle(list);
  const cols = Math.max(1, style.gridTemplateColumns.split(' ').filter(Boolean).length);
  const gap = parseFloat(style.rowGap) || 0;
  const pitch = tile.getBoundingClientRect().height + gap;
  if (pitch <= 0) return null;
  const rows = Math.ceil(count / cols);
  // Row k's top is the list's top + k * pitch whatever is rendered (the padding stands in for the
  // rows above), so the rows in view follow from how far the list's top is above the viewport.
  const fromTop = -list.getBoundingClientRect().top;
  const first = Math.max(0, Math.floor(fromTop / pitch) - OVERSCAN_ROWS);
  const last = Math.min(rows - 1, Math.ceil((fromTop + window.innerHeight) / pitch) + OVERSCAN_ROWS);
  return { cols, pitch, first, last: Math.max(first, last) };
}

/** The project's images: keyset pages loaded as the end of the grid scrolls into view. Only the
 * rows near the viewport are in the DOM (a 100,000-image project keeps a few dozen tiles); the
 * list's padding stands in for the rows above and below. */
export function ImageGrid({
  project,
  selected,
  onSelect,
  reloadKey,
  search = '',
}: {
  project: Project;
  selected: Set<string>;
  onSelect: (next: Set<string>) => void;
  reloadKey: number;
  search?: string;
}) {
  const outcome = useMemo(() => outcomeFilters(search), [search]);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [images, setImages] = useState<ImageOut[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const generation = useRef(0);
  const [win, setWin] = useState<GridWindow | null>(null);
  const count = images.length;

  // Recompute the rendered rows on scroll, resize and new pages; a new state only when they change.
  const remeasure = useCallback(() => {
    const node = list.current;
    if (!node) return;
    const next = measureWindow(node, count);
    setWin((old) =>
      old && next && old.cols === next.cols && old.pitch === next.pitch && old.first === next.first && old.last === next.last ? old : next,
    );
  }, [count]);

  useLayoutEffect(remeasure, [remeasure]);

  useEffect(() => {
    let frame = 0;
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(() => ((frame = 0), remeasure()));
    };
    window.addEventListener('scroll', schedule, { passive: true });
    window.addEventListener('resize', schedule);
    const resized = new ResizeObserver(schedule);
    if (list.current) resized.observe(list.current);
    return () => {
      window.removeEventListener('scroll', schedule);
      window.removeEventListener('resize', schedule);
      resized.disconnect();
      cancelAnimationFrame(frame);
    };
  }, [remeasure]);

  const from = win ? win.first * win.cols : 0;
  const to = win ? Math.min(count, (win.last + 1) * win.cols) : Math.min(count, FIRST_RENDER);
  const rows = win ? Math.ceil(count / win.cols) : 0;
  const padTop = win ? win.first * win.pitch : 0;
  const padBottom = win ? Math.max(0, rows - win.last - 1) * win.pitch : 0;

  const loadPage = useCallback(
    async (from: string | null, reset: boolean) => {
      const mine = ++generation.current;
      setLoading(true);
      try {
        const page = await getJson<ImagePage>(listUrl(project.id, filters, from, outcome));
        if (mine !== generation.current) return;
        setImages((old) => {
          const next = reset ? page.images : [...old, ...page.images];
          rememberOrder(project.id, next.map((i) => i.id));
          return next;
        });
        setCursor(page.next_cursor ?? null);
        setDone(!page.next_cursor);
        setError(null);
      } catch (e) {
        if (mine === generation.current) setError((e as Error).message);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [project.id, filters, outcome],
  );

  useEffect(() => {
    void loadPage(null, true);
  }, [loadPage, reloadKey]);

  useEffect(() => {
    const node = sentinel.current;
    if (!node || done || loading) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void loadPage(cursor, false);
      },
      { rootMargin: '800px' },
    );
    observer.observe(node);
    return () => observer.disconnect();
  }, [cursor, done, loading, loadPage]);

  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    onSelect(next);
  };

  return (
    <section aria-labelledby="images-heading" className="grid-section">
      <h2 id="images-heading">Images</h2>
      <form
        className="filters row"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
      >
        <label>
          File name
          <input value={draft.filename} onChange={(e) => setDraft({ ...draft, filename: e.target.value })} />
        </label>
        <label>
          Label
          <select value={draft.label} onChange={(e) => setDraft({ ...draft, label: e.target.value })}>
            <option value="">any</option>
            {project.labels.map((l) => (
              <option key={l.id}>{l.name}</option>
            ))}
          </select>
        </label>
        <label>
          Review status
          <select
            value={draft.review_status}
            onChange={(e) => setDraft({ ...draft, review_status: e.target.value as Filters['review_status'] })}
          >
            <option value="">any</option>
            <option value="reviewed">reviewed</option>
            <option value="unreviewed">unreviewed</option>
          </select>
        </label>
        <label>
          Predictions
          <select
            value={draft.has_predictions}
            onChange={(e) => setDraft({ ...draft, has_predictions: e.target.value as Filters['has_predictions'] })}
          >
            <option value="">any</option>
            <option value="true">with predictions</option>
            <option value="false">without predictions</option>
          </select>
        </label>
        <label>
          Metadata (key=value)
          <input value={draft.metadata} placeholder="site=north" onChange={(e) => setDraft({ ...draft, metadata: e.target.value })} />
        </label>
        <button type="submit">Apply filters</button>
        <button
          type="button"
          onClick={() => {
            setDraft(NO_FILTERS);
            setFilters(NO_FILTERS);
          }}
        >
          Clear
        </button>
      </form>
      {outcome.evaluation && (
        <p className="banner row" data-testid="outcome-filter">
          <span>Images of {describeOutcome(outcome)}</span>
          <a href={`/projects/${project.id}/evaluations?id=${outcome.evaluation}`} onClick={linkClick}>
            Back to the evaluation
          </a>
          <button type="button" onClick={() => navigate(`/projects/${project.id}`)}>
            Show all images
          </button>
        </p>
      )}
      <div className="row grid-tools">
        <span data-testid="image-count">
          {images.length}
          {done ? '' : '+'} images
        </span>
        <button type="button" onClick={() => onSelect(new Set(images.map((i) => i.id)))} disabled={!images.length}>
          Select all loaded
        </button>
        <button type="button" onClick={() => onSelect(new Set())} disabled={!selected.size}>
          Clear selection ({selected.size})
        </button>
      </div>
      <ul
        ref={list}
        className="grid"
        aria-label="Image grid"
        data-testid="image-grid"
        data-rendered={`${from}-${to}`}
        style={{ paddingTop: padTop, paddingBottom: padBottom }}
      >
        {images.slice(from, to).map((image, i) => (
          <li
            key={image.id}
            className={`tile ${selected.has(image.id) ? 'selected' : ''}`}
            data-testid="tile"
            data-filename={image.original_filename}
            data-index={from + i}
            aria-posinset={from + i + 1}
            aria-setsize={done ? count : -1}
          >
            <a
              href={`/projects/${project.id}/images/${image.id}${outcome.evaluation ? `?evaluation=${outcome.evaluation}` : ''}`}
              onClick={linkClick}
              title={image.original_filename}
            >
              <AuthImage src={`/api/v1/images/${image.id}/thumbnail?size=256`} alt={image.original_filename} className="thumb" />
              <span className="caption">
                {image.original_filename}
                {image.review_status === 'reviewed' && <span className="badge"> ✓ reviewed</span>}
              </span>
            </a>
            <label className="tile-select">
              <input type="checkbox" checked={selected.has(image.id)} onChange={() => toggle(image.id)} />
              <span className="visually-hidden">Select {image.original_filename}</span>
            </label>
          </li>
        ))}
      </ul>
      <div ref={sentinel} className="sentinel" aria-hidden="true" />
      {loading && <p role="status">Loading images…</p>}
      {!loading && done && images.length === 0 && <p>No images match.</p>}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
