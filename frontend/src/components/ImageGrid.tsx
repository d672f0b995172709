import { useCallback, useEffect, useRef, useState } from 'react';
import { getJson, type ImageOut, type ImagePage, type Project } from '../api/client';
import { linkClick } from '../router';
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

export function listUrl(projectId: number, filters: Filters, cursor: string | null): string {
  const q = new URLSearchParams({ limit: String(PAGE) });
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

/** The project's images: keyset pages loaded as the end of the grid scrolls into view. */
export function ImageGrid({
  project,
  selected,
  onSelect,
  reloadKey,
}: {
  project: Project;
  selected: Set<string>;
  onSelect: (next: Set<string>) => void;
  reloadKey: number;
}) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [images, setImages] = useState<ImageOut[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const generation = useRef(0);

  const loadPage = useCallback(
    async (from: string | null, reset: boolean) => {
      const mine = ++generation.current;
      setLoading(true);
      try {
        const page = await getJson<ImagePage>(listUrl(project.id, filters, from));
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
    [project.id, filters],
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
      <ul className="grid" aria-label="Image grid">
        {images.map((image) => (
          <li key={image.id} className={`tile ${selected.has(image.id) ? 'selected' : ''}`} data-testid="tile" data-filename={image.original_filename}>
            <a href={`/projects/${project.id}/images/${image.id}`} onClick={linkClick} title={image.original_filename}>
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
