import { useEffect, useState } from 'react';
import { api, must, type Comment } from '../api/client';

export function Comments({ imageId }: { imageId: string }) {
  const [comments, setComments] = useState<Comment[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const path = { image_id: imageId };

  useEffect(() => {
    must(api.GET('/api/v1/images/{image_id}/comments', { params: { path: { image_id: imageId } } }))
      .then((r) => setComments(r.comments))
      .catch((e: Error) => setError(e.message));
  }, [imageId]);

  const add = async (event: React.FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const comment = await must(api.POST('/api/v1/images/{image_id}/comments', { params: { path }, body: { text } }));
      setComments((old) => [...old, comment]);
      setText('');
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section className="card comments" aria-labelledby="comments-heading">
      <h2 id="comments-heading">Comments</h2>
      <ol className="thread" data-testid="comments">
        {comments.map((c) => (
          <li key={c.id}>
            <span className="muted">
              {c.author_email ?? 'someone'} · {new Date(c.created_at).toLocaleString()}
            </span>
            <p>{c.text}</p>
          </li>
        ))}
      </ol>
      <form onSubmit={add} className="stack">
        <label>
          New comment
          <textarea rows={2} required value={text} onChange={(e) => setText(e.target.value)} />
        </label>
        <button type="submit">Add comment</button>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
