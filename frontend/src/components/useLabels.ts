// An image's labels and the edits a person makes to them (draw, move/resize, relabel, delete,
// verdicts on detections): one implementation for the image view and the review mode.
import { useCallback, useState } from 'react';
import { api, must, type Annotation, type Prediction } from '../api/client';
import type { Box, Geometry, Selection } from './Stage';

/** Whether a key press belongs to a field being typed in (shortcuts leave it alone). */
export function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

/** Runs a step, shows its error (and, when given, its success message). */
export type Attempt = (work: () => Promise<unknown>, done?: string) => Promise<void>;

export function useLabels(imageId: string, attempt: Attempt, say: (message: string) => void) {
  const [annotations, setAnnotations] = useState<Annotation[]>([]);
  const [predictions, setPredictions] = useState<Prediction[]>([]);
  const [selection, setSelection] = useState<Selection>(null);

  const loadLabels = useCallback(async () => {
    const path = { image_id: imageId };
    const [anns, preds] = await Promise.all([
      must(api.GET('/api/v1/images/{image_id}/annotations', { params: { path } })),
      must(api.GET('/api/v1/images/{image_id}/predictions', { params: { path } })),
    ]);
    setAnnotations(anns);
    setPredictions(preds);
  }, [imageId]);

  const reviewDetection = useCallback(
    (modelVersionId: number, index: number, verdict: 'accepted' | 'rejected' | null) =>
      attempt(async () => {
        await must(
          api.POST('/api/v1/images/{image_id}/predictions/{model_version_id}/review', {
            params: { path: { image_id: imageId, model_version_id: modelVersionId } },
            body: { index, verdict },
          }),
        );
        await loadLabels();
      }, verdict ? `Detection ${index + 1} ${verdict}` : 'Verdict cleared'),
    [attempt, imageId, loadLabels],
  );

  const drawBox = (label: string, box: Box) =>
    attempt(async () => {
      if (!label) throw new Error('choose a class to draw with first');
      const made = await must(
        api.POST('/api/v1/images/{image_id}/annotations', {
          params: { path: { image_id: imageId } },
          body: { kind: 'box', label, geometry: { ...box } },
        }),
      );
      setAnnotations((old) => [...old, made]);
      setSelection({ kind: 'annotation', id: made.id });
    }, 'Box added');

  const changeGeometry = (id: number, geometry: Geometry) =>
    attempt(async () => {
      // Shown at once; the server's answer replaces it, a refusal puts the old one back.
      const before = annotations;
      const kind = annotations.find((a) => a.id === id)?.kind ?? 'box';
      setAnnotations((old) => old.map((a) => (a.id === id ? { ...a, geometry: { ...geometry } } : a)));
      try {
        const changed = await must(api.PATCH('/api/v1/annotations/{annotation_id}', { params: { path: { annotation_id: id } }, body: { geometry: { ...geometry } } }));
        setAnnotations((old) => old.map((a) => (a.id === id ? changed : a)));
      } catch (e) {
        setAnnotations(before);
        throw e;
      }
      say(`${kind[0].toUpperCase()}${kind.slice(1)} saved`);
    });

  const relabel = (id: number, label: string) =>
    attempt(async () => {
      const changed = await must(api.PATCH('/api/v1/annotations/{annotation_id}', { params: { path: { annotation_id: id } }, body: { label } }));
      setAnnotations((old) => old.map((a) => (a.id === id ? changed : a)));
    }, 'Class changed');

  const remove = useCallback(
    (id: number) =>
      attempt(async () => {
        await must(api.DELETE('/api/v1/annotations/{annotation_id}', { params: { path: { annotation_id: id } } }));
        setAnnotations((old) => old.filter((a) => a.id !== id));
        setSelection(null);
      }, 'Annotation deleted'),
    [attempt],
  );

  return { annotations, predictions, selection, setSelection, loadLabels, reviewDetection, drawBox, changeGeometry, relabel, remove };
}
