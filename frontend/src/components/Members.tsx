import { useCallback, useEffect, useState } from 'react';
import { api, must, type Member, type Role } from '../api/client';

const ROLES: Role[] = ['viewer', 'annotator', 'manager', 'owner'];

export function Members({ projectId }: { projectId: number }) {
  const [members, setMembers] = useState<Member[]>([]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('annotator');
  const [error, setError] = useState<string | null>(null);
  const path = { project_id: projectId };

  const load = useCallback(() => {
    must(api.GET('/api/v1/projects/{project_id}/members', { params: { path: { project_id: projectId } } }))
      .then(setMembers)
      .catch((e: Error) => setError(e.message));
  }, [projectId]);
  useEffect(load, [load]);

  const set = async (memberEmail: string, memberRole: Role) => {
    setError(null);
    try {
      await must(api.PUT('/api/v1/projects/{project_id}/members', { params: { path }, body: { email: memberEmail, role: memberRole } }));
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const remove = async (userId: number) => {
    setError(null);
    try {
      await must(api.DELETE('/api/v1/projects/{project_id}/members/{user_id}', { params: { path: { ...path, user_id: userId } } }));
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section className="card" aria-labelledby="members-heading">
      <h2 id="members-heading">Members and roles</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr key={m.user_id}>
              <td>{m.email}</td>
              <td>
                <select aria-label={`Role of ${m.email}`} value={m.role} onChange={(e) => void set(m.email, e.target.value as Role)}>
                  {ROLES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </td>
              <td>
                <button type="button" onClick={() => void remove(m.user_id)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void set(email, role).then(() => setEmail(''));
        }}
      >
        <label>
          Email
          <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <button type="submit">Add member</button>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
