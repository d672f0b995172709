// An image's labels and the edits a person makes to them (draw, move/resize, relabel, delete,
// verdicts on detections): one implementation for the image view and the review mode. The image
// view's mask tools build their steps from the same create/update/destroy primitives.
import { useCallback, useRef, useState } from 'react';
import { api, must, type Annotation, type Prediction, type Schemas } from '../api/client';
import type { Box, Geometry, Selection } from './Stage';

/** Whether a key press belongs to a field being typed in (shortcuts leave it alone). */
export function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

/** Runs a step, shows its error (and, when given, its success message). */
export type Attempt = (work: () => Promise<unknown>, done?: string) => Promise<void>;

type NewAnnotation = Schemas['labelbay__api__schemas__AnnotationIn'];
type AnnotationChange = Schemas['AnnotationPatch'];

export interface LabelsOptions {
  /** Called once an annotation is deleted (the image view drops an unsaved mask edit of it). */
  onRemoved?: (id: number) => void;
}

export function useLabels(imageId: string, attempt: Attempt, say: (message: string) => void, options: LabelsOptions = {}) {
  const [annotations, setAnnotations] = useState<Annotation[]>([]);
  const [predictions, setPredictions] = useState<Prediction[]>([]);
  const [selection, setSelection] = useState<Selection>(null);
  const onRemoved = useRef(options.onRemoved);
  onRemoved.current = options.onRemoved;

  const loadLabels = useCallback(async () => {
    const path = { image_id: imageId };
    const [anns, preds] = await Promise.all([
      must(api.GET('/api/v1/images/{image_id}/annotations', { params: { path } })),
      must(api.GET('/api/v1/images/{image_id}/predictions', { params: { path } })),
    ]);
    setAnnotations(anns);
    setPredictions(preds);
    return preds;
  }, [imageId]);

  // The primitives: each asks the server and puts its answer into the list (errors are thrown,
  // for the step that uses them to show).
  const create = useCallback(
    async (body: NewAnnotation) => {
      const made = await must(api.POST('/api/v1/images/{image_id}/annotations', { params: { path: { image_id: imageId } }, body }));
      setAnnotations((old) => [...old, made]);
      return made;
    },
    [imageId],
  );

  const update = useCallback(async (id: number, body: AnnotationChange) => {
    const changed = await must(api.PATCH('/api/v1/annotations/{annotation_id}', { params: { path: { annotation_id: id } }, body }));
    setAnnotations((old) => old.map((a) => (a.id === id ? changed : a)));
    return changed;
  }, []);

  const destroy = useCallback(async (id: number) => {
    await must(api.DELETE('/api/v1/annotations/{annotation_id}', { params: { path: { annotation_id: id } } }));
    setAnnotations((old) => old.filter((a) => a.id !== id));
    onRemoved.current?.(id);
  }, []);

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
      const made = await create({ kind: 'box', label, geometry: { ...box } });
      setSelection({ kind: 'annotation', id: made.id });
    }, 'Box added');

  const changeGeometry = (id: number, geometry: Geometry) =>
    attempt(async () => {
      // Shown at once; the server's answer replaces it, a refusal puts the old one back.
      const before = annotations;
      const kind = annotations.find((a) => a.id === id)?.kind ?? 'box';
      setAnnotations((old) => old.map((a) => (a.id === id ? { ...a, geometry: { ...geometry } } : a)));
      try {
        await update(id, { geometry: { ...geometry } });
      } catch (e) {
        setAnnotations(before);
        throw e;
      }
      say(`${kind[0].toUpperCase()}${kind.slice(1)} saved`);
    });

  const relabel = (id: number, label: string) => attempt(() => update(id, { label }), 'Class changed');

  const remove = useCallback(
    (id: number) =>
      attempt(async () => {
        await destroy(id);
        setSelection(null);
      }, 'Annotation deleted'),
    [attempt, destroy],
  );

  return {
    annotations,
    predictions,
    selection,
    setSelection,
    loadLabels,
    create,
    update,
    destroy,
    reviewDetection,
    drawBox,
    changeGeometry,
    relabel,
    remove,
  };
}
