// Open and recent alerts, and the deliveries of each webhook.
import { AlertEventType, AlertState, type Alert } from "@gen/cronstream/v1/alert_pb.js";
import { HealthState } from "@gen/cronstream/v1/job_pb.js";
import { WebhookDeliveryStatus, type Webhook } from "@gen/cronstream/v1/webhook_pb.js";
import { scheduler } from "../api";
import { enumLabel, formatTime } from "../format";
import { href } from "../router";
import { ErrorBox } from "../ui/errors";
import { useCall } from "../ui/hooks";

function AlertTable({ alerts, label }: { alerts: Alert[]; label: string }) {
  if (alerts.length === 0) return <p class="muted">None.</p>;
  return (
    <table class="grid" aria-label={label}>
      <thead>
        <tr>
          <th scope="col">Opened</th>
          <th scope="col">Job</th>
          <th scope="col">Kind</th>
          <th scope="col">State</th>
          <th scope="col">Reason</th>
          <th scope="col">Resolved</th>
        </tr>
      </thead>
      <tbody>
        {alerts.map((a) => (
          <tr key={a.id}>
            <td>{formatTime(a.openedAt)}</td>
            <td>
              <a href={href.job(a.jobId)}>{a.jobName}</a>
            </td>
            <td>
              <span class="badge bad">{enumLabel(HealthState, a.kind)}</span>
            </td>
            <td>{enumLabel(AlertState, a.state)}</td>
            <td>
              {a.reason}
              {a.executionId && (
                <>
                  {" "}
                  (<a href={href.execution(a.executionId)}>execution</a>)
                </>
              )}
            </td>
            <td>{formatTime(a.resolvedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Deliveries({ webhook }: { webhook: Webhook }) {
  const list = useCall(() => scheduler.listWebhookDeliveries({ webhookId: webhook.id, pageSize: 10 }), [webhook.id], 10000);
  return (
    <section>
      <h3>
        {webhook.url} <span class="muted small">{webhook.description}</span>
      </h3>
      <ErrorBox error={list.error} title="Could not list deliveries" />
      {(list.data?.deliveries.length ?? 0) === 0 ? (
        <p class="muted">No delivery yet.</p>
      ) : (
        <table class="grid compact" aria-label={`Deliveries to ${webhook.url}`}>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Attempt</th>
              <th scope="col">Status</th>
              <th scope="col">Response</th>
              <th scope="col">Attempted</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {list.data!.deliveries.map((d) => (
              <tr key={`${d.id}-${d.attempt}`}>
                <td>
                  #{String(d.eventCursor)} {enumLabel(AlertEventType, d.eventType)}
                </td>
                <td>{d.attempt}</td>
                <td>{enumLabel(WebhookDeliveryStatus, d.status)}</td>
                <td>{d.responseCode || "—"}</td>
                <td>{formatTime(d.attemptedAt)}</td>
                <td>{d.error || "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function AlertsPage() {
  const open = useCall(() => scheduler.listAlerts({ states: [AlertState.OPEN], pageSize: 100 }), [], 10000);
  const recent = useCall(() => scheduler.listAlerts({ states: [AlertState.RESOLVED], pageSize: 50 }), [], 10000);
  const hooks = useCall(() => scheduler.listWebhooks({ pageSize: 20 }), []);
  return (
    <section>
      <h1>Alerts</h1>
      <h2>Open</h2>
      <ErrorBox error={open.error} title="Could not list open alerts" />
      <AlertTable alerts={open.data?.alerts ?? []} label="Open alerts" />
      <h2>Recently resolved</h2>
      <ErrorBox error={recent.error} title="Could not list resolved alerts" />
      <AlertTable alerts={recent.data?.alerts ?? []} label="Resolved alerts" />
      <h2>Webhook deliveries</h2>
      <ErrorBox error={hooks.error} title="Could not list webhooks" />
      {(hooks.data?.webhooks.length ?? 0) === 0 && <p class="muted">No webhook is registered.</p>}
      {hooks.data?.webhooks.map((w) => (
        <Deliveries key={w.id} webhook={w} />
      ))}
    </section>
  );
}
