"""Maintenance: one module a workflow. `retention` (the retention sweep: its orchestrator,
activities and timer), `replication` (the replication sweep, and the queue trigger that copies a
message's audio right after transcoding), `admin` (the routes that start a sweep or report on one);
`common` is what they share (retry policy, fan-out, the activity helper, the singleton starter)."""
