import { useEffect, useState } from 'react';
import { api, getToken, must, setToken, setUnauthorizedHandler, type Schemas } from './api/client';
import { linkClick, navigate, parse, useLocation } from './router';
import { SignIn } from './pages/SignIn';
import { Projects } from './pages/Projects';
import { ProjectPage } from './pages/ProjectPage';
import { ImageView } from './pages/ImageView';
import { ReviewPage } from './pages/ReviewPage';
import { AgreementView } from './pages/AgreementView';

type User = Schemas['UserOut'];

export function App() {
  const path = useLocation();
  const route = parse(path.split('?')[0]);
  const [user, setUser] = useState<User | null>(null);
  const [checked, setChecked] = useState(false);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setToken(null);
      setUser(null);
      navigate('/signin', true);
    });
  }, []);

  useEffect(() => {
    if (!getToken()) {
      setChecked(true);
      return;
    }
    must(api.GET('/api/v1/users/me'))
      .then(setUser)
      .catch(() => setToken(null))
      .finally(() => setChecked(true));
  }, []);

  if (!checked) return <p className="loading" role="status">Loading…</p>;
  if (!user || route.name === 'signin') {
    return (
      <SignIn
        onSignedIn={(me) => {
          setUser(me);
          if (route.name === 'signin') navigate('/', true);
        }}
      />
    );
  }

  const signOut = () => {
    setToken(null);
    setUser(null);
    navigate('/signin');
  };

  return (
    <div className="app">
      <header className="topbar">
        <a href="/" onClick={linkClick} className="brand">
          labelbay
        </a>
        <span className="spacer" />
        <span className="who" data-testid="current-user">
          {user.email}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main">
        {route.name === 'projects' && <Projects />}
        {route.name === 'project' && <ProjectPage key={route.projectId} projectId={route.projectId} tab={route.tab} />}
        {route.name === 'image' && (
          <ImageView key={route.imageId} projectId={route.projectId} imageId={route.imageId} />
        )}
        {route.name === 'review' && <ReviewPage key={route.projectId} projectId={route.projectId} me={user.email} />}
        {route.name === 'agreement' && (
          <AgreementView key={route.imageId} projectId={route.projectId} imageId={route.imageId} />
        )}
        {route.name === 'notfound' && (
          <p>
            Nothing here. <a href="/" onClick={linkClick}>Back to projects</a>
          </p>
        )}
      </main>
    </div>
  );
}
