import { useState } from 'react';
import { api, must, type Project } from '../api/client';
import { parseMetadata } from '../pages/Projects';
import { labelColor } from '../colors';

/** The label set (name + colour) and the project's metadata. */
export function ProjectSettings({ project, onChanged }: { project: Project; onChanged: () => void }) {
  const [name, setName] = useState('');
  const [color, setColor] = useState('#e6194b');
  const [metadata, setMetadata] = useState(
    Object.entries(project.metadata)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join('\n'),
  );
  const [error, setError] = useState<string | null>(null);
  const path = { project_id: project.id };
  const attempt = async (work: () => Promise<unknown>) => {
    setError(null);
    try {
      await work();
      onChanged();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section className="card" aria-labelledby="settings-heading">
      <h2 id="settings-heading">Label set</h2>
      <ul className="legend">
        {project.labels.map((l) => (
          <li key={l.id}>
            <input
              type="color"
              aria-label={`Colour of ${l.name}`}
              value={/^#[0-9a-f]{6}$/i.test(l.color) ? l.color : labelColor(l.name, null)}
              onChange={(e) =>
                void attempt(() =>
                  must(api.PATCH('/api/v1/projects/{project_id}/labels/{label_id}', { params: { path: { ...path, label_id: l.id } }, body: { color: e.target.value } })),
                )
              }
            />
            {l.name}
            <button
              type="button"
              onClick={() =>
                void attempt(() => must(api.DELETE('/api/v1/projects/{project_id}/labels/{label_id}', { params: { path: { ...path, label_id: l.id } } })))
              }
            >
              Remove {l.name}
            </button>
          </li>
        ))}
      </ul>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void attempt(() => must(api.POST('/api/v1/projects/{project_id}/labels', { params: { path }, body: { name, color, description: '' } }))).then(() =>
            setName(''),
          );
        }}
      >
        <label>
          New label
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Colour
          <input type="color" value={color} onChange={(e) => setColor(e.target.value)} />
        </label>
        <button type="submit">Add label</button>
      </form>
      <h2>Metadata</h2>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void attempt(() => must(api.PATCH('/api/v1/projects/{project_id}', { params: { path }, body: { metadata: parseMetadata(metadata) } })));
        }}
      >
        <label>
          Project metadata (key=value, one per line)
          <textarea rows={4} value={metadata} onChange={(e) => setMetadata(e.target.value)} />
        </label>
        <button type="submit">Save metadata</button>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
