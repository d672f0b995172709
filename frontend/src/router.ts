// A small client-side router over the History API: the server answers every app path with
// index.html (routes/web.py), and these are the app's routes.
import { useEffect, useState } from 'react';

export type ProjectTab = 'images' | 'members' | 'settings' | 'evaluations' | 'dashboard';

export type Route =
  | { name: 'projects' }
  | { name: 'signin' }
  | { name: 'project'; projectId: number; tab: ProjectTab }
  | { name: 'image'; projectId: number; imageId: string }
  | { name: 'review'; projectId: number }
  | { name: 'agreement'; projectId: number; imageId: string }
  | { name: 'notfound' };

export function parse(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean);
  if (parts.length === 0) return { name: 'projects' };
  if (parts[0] === 'signin') return { name: 'signin' };
  if (parts[0] === 'projects' && parts[1] && /^\d+$/.test(parts[1])) {
    const projectId = Number(parts[1]);
    if (parts[2] === 'images' && parts[3] && parts[4] === 'agreement') return { name: 'agreement', projectId, imageId: parts[3] };
    if (parts[2] === 'images' && parts[3]) return { name: 'image', projectId, imageId: parts[3] };
    if (parts[2] === 'review') return { name: 'review', projectId };
    if (parts[2] === 'members') return { name: 'project', projectId, tab: 'members' };
    if (parts[2] === 'settings') return { name: 'project', projectId, tab: 'settings' };
    if (parts[2] === 'evaluations') return { name: 'project', projectId, tab: 'evaluations' };
    if (parts[2] === 'dashboard') return { name: 'project', projectId, tab: 'dashboard' };
    return { name: 'project', projectId, tab: 'images' };
  }
  return { name: 'notfound' };
}

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useLocation(): string {
  const [path, setPath] = useState(() => location.pathname + location.search);
  useEffect(() => {
    const update = () => setPath(location.pathname + location.search);
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return path;
}

/** A same-origin link that routes in place (ctrl/middle click still opens a new tab). */
export function linkClick(event: React.MouseEvent<HTMLAnchorElement>): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(event.currentTarget.getAttribute('href') ?? '/');
}
