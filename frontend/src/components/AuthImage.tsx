import { useEffect, useRef, useState } from 'react';
import { fetchBlob } from '../api/client';

/** An <img> whose bytes need the credential: fetched once it nears the viewport, shown from a blob. */
export function AuthImage({
  src,
  alt,
  className,
  lazy = true,
  onLoad,
}: {
  src: string;
  alt: string;
  className?: string;
  lazy?: boolean;
  onLoad?: (img: HTMLImageElement) => void;
}) {
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const [visible, setVisible] = useState(!lazy);
  const holder = useRef<HTMLSpanElement>(null);

  useEffect(() => {
    if (visible || !holder.current) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) setVisible(true);
      },
      { rootMargin: '400px' },
    );
    observer.observe(holder.current);
    return () => observer.disconnect();
  }, [visible]);

  useEffect(() => {
    if (!visible) return;
    const controller = new AbortController();
    let objectUrl: string | null = null;
    fetchBlob(src, controller.signal)
      .then((blob) => {
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      })
      .catch((e: Error) => {
        if (e.name !== 'AbortError') setFailed(true);
      });
    return () => {
      controller.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [src, visible]);

  if (url) return <img src={url} alt={alt} className={className} onLoad={(e) => onLoad?.(e.currentTarget)} draggable={false} />;
  return (
    <span ref={holder} className={`img-placeholder ${className ?? ''}`} role="img" aria-label={alt}>
      {failed ? 'unavailable' : ''}
    </span>
  );
}
