-- The read model: what workflows project after every change. Lists,
-- filters and the task inbox read these tables, never Temporal.

-- +goose Up
CREATE TABLE processes (
    id         text        PRIMARY KEY,  -- the workflow ID
    kind       text        NOT NULL,
    state      text        NOT NULL,
    title      text        NOT NULL DEFAULT '',
    owner_id   text        NOT NULL DEFAULT '',
    opened_at  timestamptz NOT NULL,
    closed_at  timestamptz,
    due_at     timestamptz,
    version    bigint      NOT NULL,     -- grows with every projection
    record     jsonb,                    -- the full process record
    search     jsonb       NOT NULL DEFAULT '{}',  -- extra exact-match filter keys
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Lists are keyset-paginated by (opened_at DESC, id DESC), usually within
-- one kind and often by state or owner.
CREATE INDEX processes_list       ON processes (opened_at DESC, id DESC);
CREATE INDEX processes_kind_list  ON processes (kind, opened_at DESC, id DESC);
CREATE INDEX processes_state_list ON processes (kind, state, opened_at DESC, id DESC);
CREATE INDEX processes_owner_list ON processes (owner_id, opened_at DESC, id DESC);
CREATE INDEX processes_closed_at  ON processes (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX processes_search     ON processes USING gin (search jsonb_path_ops);

CREATE TABLE tasks (
    process_id       text        NOT NULL,
    task_id          text        NOT NULL,
    process_kind     text        NOT NULL,
    process_title    text        NOT NULL DEFAULT '',
    kind             text        NOT NULL DEFAULT '',
    title            text        NOT NULL DEFAULT '',
    owner_type       text        NOT NULL DEFAULT '',
    assignee         text        NOT NULL DEFAULT '',
    role             text        NOT NULL DEFAULT '',
    state            text        NOT NULL,
    due_at           timestamptz,
    open_at          timestamptz,
    weight           integer     NOT NULL DEFAULT 0,
    escalation_level integer     NOT NULL DEFAULT 0,
    data             jsonb       NOT NULL,  -- the full opsflow.Task
    version          bigint      NOT NULL,  -- the process version that wrote it
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (process_id, task_id)
);

-- The inbox orders by due date (none last), then process and task ID; the
-- sort key is an expression so that keyset pagination can use an index.
CREATE INDEX tasks_inbox          ON tasks ((coalesce(due_at, 'infinity')), process_id, task_id);
CREATE INDEX tasks_inbox_assignee ON tasks (assignee, (coalesce(due_at, 'infinity')), process_id, task_id) WHERE assignee <> '';
CREATE INDEX tasks_inbox_role     ON tasks (role, (coalesce(due_at, 'infinity')), process_id, task_id) WHERE role <> '';
CREATE INDEX tasks_inbox_state    ON tasks (state, (coalesce(due_at, 'infinity')), process_id, task_id);
-- Overdue sweeps look only at active tasks with a due date.
CREATE INDEX tasks_active_due     ON tasks (due_at) WHERE state IN ('open', 'in_progress', 'blocked') AND due_at IS NOT NULL;

-- +goose Down
DROP TABLE tasks;
DROP TABLE processes;
