import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Navigate, NavLink, Route, Routes, useNavigate } from 'react-router';
import { describeError, logOut, type Session, trpc } from './api';
import { AuditPage } from './pages/audit';
import { DeadLettersPage } from './pages/dead-letters';
import { ExplorerPage } from './pages/explorer';
import { LivePage } from './pages/live';
import { LoginPage } from './pages/login';
import { OverviewPage } from './pages/overview';
import { RequestPage } from './pages/request';
import { TenantPage } from './pages/tenant';
import { TenantHomePage } from './pages/tenant-home';
import { TenantKeysPage } from './pages/tenant-keys';
import { TenantsPage } from './pages/tenants';
import { ErrorPanel, Loading } from './ui';

export const SESSION_QUERY = ['console.session'] as const;

const ADMIN_NAV = [
  ['/overview', 'Overview'],
  ['/requests', 'Requests'],
  ['/live', 'Live'],
  ['/tenants', 'Tenants'],
  ['/dead-letters', 'Dead letters'],
  ['/audit', 'Audit trail'],
] as const;

const TENANT_NAV = [
  ['/overview', 'Usage & budget'],
  ['/requests', 'Requests'],
  ['/keys', 'Keys'],
] as const;

export function App() {
  const session = useQuery({ queryKey: SESSION_QUERY, queryFn: () => trpc.console.session.query() });
  if (session.isPending) return <Loading what="your session" />;
  if (session.isError) {
    if (describeError(session.error).code === 'UNAUTHORIZED')
      return (
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route path="*" element={<Navigate to="/login" replace />} />
        </Routes>
      );
    return <ErrorPanel error={session.error} />;
  }
  return <Shell session={session.data} />;
}

function Shell(props: { session: Session }) {
  const { session } = props;
  const admin = session.role === 'admin';
  const nav = admin ? ADMIN_NAV : TENANT_NAV;
  const client = useQueryClient();
  const navigate = useNavigate();
  const signOut = async () => {
    await logOut();
    client.clear();
    navigate('/login');
    await client.invalidateQueries({ queryKey: SESSION_QUERY });
  };
  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          <span>Sluice</span>
        </div>
        <nav>
          {nav.map(([to, label]) => (
            <NavLink
              key={to}
              to={to}
              className={({ isActive }) => (isActive ? 'nav-link active' : 'nav-link')}
            >
              {label}
            </NavLink>
          ))}
        </nav>
        <div className="sidebar-foot">
          <div className="who" data-role={session.role}>
            <span className={`role role-${session.role}`}>{admin ? 'Administrator' : 'Tenant'}</span>
            {session.tenantName ? <strong>{session.tenantName}</strong> : null}
            <code title={session.keyId}>{session.keyPrefix ? `${session.keyPrefix}…` : session.keyId}</code>
          </div>
          <button type="button" className="button button-quiet" onClick={signOut}>
            Log out
          </button>
        </div>
      </aside>
      <Routes>
        <Route path="/" element={<Navigate to="/overview" replace />} />
        <Route path="/login" element={<Navigate to="/overview" replace />} />
        <Route path="/overview" element={admin ? <OverviewPage /> : <TenantHomePage session={session} />} />
        <Route path="/requests" element={<ExplorerPage admin={admin} />} />
        <Route path="/requests/:id" element={<RequestPage admin={admin} />} />
        <Route path="/live" element={<LivePage />} />
        <Route path="/tenants" element={<TenantsPage />} />
        <Route path="/tenants/:name" element={<TenantPage />} />
        <Route path="/dead-letters" element={<DeadLettersPage />} />
        <Route path="/audit" element={<AuditPage />} />
        <Route path="/keys" element={<TenantKeysPage />} />
        <Route path="*" element={<Navigate to="/overview" replace />} />
      </Routes>
    </div>
  );
}
