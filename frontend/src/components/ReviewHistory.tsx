// An image's review history as the API keeps it (append-only): who did what, when, and why.
import type { Schemas } from '../api/client';

type Event = Schemas['ReviewEventOut'];

const WORDS: Record<string, string> = {
  claim: 'took it for review',
  release: 'gave it back',
  accept: 'accepted the image',
  reject: 'rejected the image',
  reopen: 'reopened the image',
  accept_predictions: 'accepted the predictions',
  correct: 'corrected a prediction',
  consensus_accept: 'accepted the consensus',
  undo: 'undid a step',
};

export function ReviewHistory({ events }: { events: Event[] }) {
  return (
    <section className="card" aria-labelledby="history-heading">
      <h2 id="history-heading">Review history</h2>
      <ol className="history" data-testid="review-history">
        {events.map((e) => (
          <li key={e.id} data-action={e.action} data-email={e.email ?? ''}>
            <time dateTime={e.at}>{new Date(e.at).toLocaleString()}</time> <strong>{e.email ?? 'someone'}</strong>{' '}
            {WORDS[e.action] ?? e.action}
            {e.action === 'undo' && typeof e.details.action === 'string' ? ` (${WORDS[e.details.action] ?? e.details.action})` : ''}
            {e.duration_s != null ? ` after ${Math.round(e.duration_s)} s` : ''}
            {e.reason ? <q className="reason">{e.reason}</q> : null}
          </li>
        ))}
      </ol>
    </section>
  );
}
