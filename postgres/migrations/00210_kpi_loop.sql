-- The KPI loop (issue 11): what good is for each KPI, what its watch did,
-- and the monthly report. The registry row (kpis) keeps its shape, as its
-- migration promised: every addition is a table of its own keyed by the
-- KPI, and every change to a definition is an audit event on the stream
-- "kpi/<key>".

-- +goose Up

-- A KPI's spec (frequency, missing rule, method, thresholds, response
-- policy, rule severities, baseline) as one document with a version that
-- grows with every change; no row means the default spec.
CREATE TABLE kpi_specs (
    kpi_key    text        PRIMARY KEY REFERENCES kpis (key),
    spec       jsonb       NOT NULL,
    version    bigint      NOT NULL,
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Targets take effect from a date; a new target is a new row, so the
-- history of what was expected when stays readable.
CREATE TABLE kpi_targets (
    kpi_key        text             NOT NULL REFERENCES kpis (key),
    effective_from timestamptz      NOT NULL,
    value          double precision NOT NULL,
    reason         text             NOT NULL DEFAULT '',
    set_by         text             NOT NULL,
    set_at         timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi_key, effective_from)
);

-- Dividers start new control limits after a deliberate change.
CREATE TABLE kpi_dividers (
    kpi_key    text        NOT NULL REFERENCES kpis (key),
    at         timestamptz NOT NULL,
    label      text        NOT NULL,
    baseline   jsonb       NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi_key, at)
);

-- Which measurements the KPI's watch has judged, and in which of its
-- evaluations: an evaluation retried after it committed finds its own
-- measurements again instead of none.
CREATE TABLE kpi_evaluated (
    kpi_key        text   NOT NULL,
    measurement_id text   NOT NULL,
    evaluation     bigint NOT NULL,
    PRIMARY KEY (kpi_key, measurement_id),
    FOREIGN KEY (kpi_key, measurement_id) REFERENCES kpi_measurements (kpi_key, id)
);
CREATE INDEX kpi_evaluated_evaluation ON kpi_evaluated (kpi_key, evaluation);

-- The processes a KPI's signals opened: the KPI lists them, the watch adds
-- later signals of the same rule to the one still open.
CREATE TABLE kpi_links (
    kpi_key    text        NOT NULL REFERENCES kpis (key),
    process_id text        NOT NULL,
    kind       text        NOT NULL,
    rule       text        NOT NULL,
    point_id   text        NOT NULL,
    opened_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi_key, process_id)
);

-- Every unfavourable violation the watch acted on, once: opened a process,
-- added to one, or recorded (a policy of none).
CREATE TABLE kpi_signals (
    kpi_key    text             NOT NULL REFERENCES kpis (key),
    rule       text             NOT NULL,
    point_id   text             NOT NULL,
    at         timestamptz      NOT NULL,
    value      double precision NOT NULL,
    action     text             NOT NULL CHECK (action IN ('opened', 'noted', 'recorded')),
    process_id text             NOT NULL DEFAULT '',
    handled_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi_key, rule, point_id)
);

-- Owners' one-line commentary on a red or amber month, for the report.
CREATE TABLE kpi_commentary (
    kpi_key    text        NOT NULL REFERENCES kpis (key),
    period     text        NOT NULL,
    text       text        NOT NULL,
    by_id      text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi_key, period)
);

-- Monthly reports, one per period, immutable once written: the rendered
-- HTML and PDF with their SHA-256, and the figures they show.
CREATE TABLE reports (
    id            text        PRIMARY KEY,
    period        text        NOT NULL UNIQUE,
    time_zone     text        NOT NULL,
    scheduled_at  timestamptz,
    generated_at  timestamptz NOT NULL,
    generated_by  text        NOT NULL,
    html          bytea       NOT NULL,
    pdf           bytea       NOT NULL,
    html_sha256   text        NOT NULL,
    pdf_sha256    text        NOT NULL,
    summary       jsonb       NOT NULL,
    distribution  text[]      NOT NULL DEFAULT '{}'
);

-- +goose StatementBegin
CREATE FUNCTION reports_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'reports are immutable';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER reports_immutable
    BEFORE UPDATE OR DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_immutable();

-- The report schedule an administrator set (one row), mirrored into
-- Temporal Schedules.
CREATE TABLE report_settings (
    id         int         PRIMARY KEY CHECK (id = 1),
    settings   jsonb       NOT NULL,
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE report_settings;
DROP TABLE reports;
DROP FUNCTION reports_immutable();
DROP TABLE kpi_commentary;
DROP TABLE kpi_signals;
DROP TABLE kpi_links;
DROP TABLE kpi_evaluated;
DROP TABLE kpi_dividers;
DROP TABLE kpi_targets;
DROP TABLE kpi_specs;
