-- The built-in KPIs: computed every month from opsflow's own records (see
-- opsflow.MeasureBuiltins), so a manager has CAPA, onboarding and Kaizen
-- figures, with charts and a report, on day one. They are ordinary KPIs:
-- an administrator changes their owner, targets, thresholds and policy
-- through the API like any other (and every such change is audited). The
-- starting targets are common practice, not law.

-- +goose Up
INSERT INTO kpis (key, name, description, unit, direction, owner_id, created_by) VALUES
('opsflow.capa.on_time_closure', 'CAPA on-time closure rate', 'CAPAs closed in the month whose every task was done by its due date, as a share of the CAPAs closed.', '%', 'higher', 'admin', 'system'),
('opsflow.capa.days_to_close', 'CAPA mean days to close', 'Mean calendar days from report to closure of the CAPAs closed in the month.', 'days', 'lower', 'admin', 'system'),
('opsflow.capa.effectiveness', 'CAPA effectiveness rate', 'Effectiveness reviews in the month judged effective, as a share of those judged effective or ineffective.', '%', 'higher', 'admin', 'system'),
('opsflow.tasks.overdue', 'Overdue tasks', 'Tasks of every process due before the end of the month and not done by then.', 'tasks', 'lower', 'admin', 'system'),
('opsflow.onboarding.day1_ready', 'Onboarding day-1-ready rate', 'Onboardings starting in the month with every task required for day one done, as a share of those starting.', '%', 'higher', 'admin', 'system'),
('opsflow.onboarding.on_time', 'Onboarding completed on time', 'Onboardings completed in the month whose every task was done by its due date, as a share of those completed.', '%', 'higher', 'admin', 'system'),
('opsflow.onboarding.days_to_complete', 'Onboarding time to complete', 'Mean calendar days from start date to completion of the onboardings completed in the month.', 'days', 'lower', 'admin', 'system'),
('opsflow.kaizen.cycle_days', 'Kaizen cycle time', 'Mean calendar days from submission to closure of the Kaizen initiatives closed in the month.', 'days', 'lower', 'admin', 'system'),
('opsflow.kaizen.realised_impact', 'Kaizen realised impact', 'Sum of the locked hard-savings actuals of the Kaizen initiatives closed in the month.', 'hard savings', 'higher', 'admin', 'system')
ON CONFLICT (key) DO NOTHING;

INSERT INTO kpi_specs (kpi_key, spec, version, updated_by)
SELECT key, jsonb_build_object(
    'frequency', 'monthly',
    'missing', jsonb_build_object('enabled', false, 'grace_days', 0),
    'method', description,
    'source', 'opsflow read model (measured on the 1st of each month for the month before)',
    'thresholds', '{}'::jsonb,
    'policy', jsonb_build_object('action', 'none'),
    'rules', '{"beyond_limits": "violation", "three_of_four": "warning", "eight_on_one_side": "warning", "mr_above_url": "warning"}'::jsonb,
    'baseline', jsonb_build_object('locked', false)), 1, 'system'
FROM kpis WHERE key LIKE 'opsflow.%'
ON CONFLICT (kpi_key) DO NOTHING;

INSERT INTO kpi_targets (kpi_key, effective_from, value, reason, set_by) VALUES
('opsflow.capa.on_time_closure', '2000-01-01T00:00:00Z', 90, 'starting target shipped with opsflow', 'system'),
('opsflow.capa.days_to_close', '2000-01-01T00:00:00Z', 60, 'starting target shipped with opsflow', 'system'),
('opsflow.capa.effectiveness', '2000-01-01T00:00:00Z', 80, 'starting target shipped with opsflow', 'system'),
('opsflow.tasks.overdue', '2000-01-01T00:00:00Z', 0, 'starting target shipped with opsflow', 'system'),
('opsflow.onboarding.day1_ready', '2000-01-01T00:00:00Z', 95, 'starting target shipped with opsflow', 'system'),
('opsflow.onboarding.on_time', '2000-01-01T00:00:00Z', 90, 'starting target shipped with opsflow', 'system'),
('opsflow.onboarding.days_to_complete', '2000-01-01T00:00:00Z', 90, 'starting target shipped with opsflow', 'system'),
('opsflow.kaizen.cycle_days', '2000-01-01T00:00:00Z', 90, 'starting target shipped with opsflow', 'system')
ON CONFLICT DO NOTHING;

-- +goose Down
DELETE FROM kpi_targets WHERE kpi_key LIKE 'opsflow.%';
DELETE FROM kpi_specs WHERE kpi_key LIKE 'opsflow.%';
DELETE FROM kpis WHERE key LIKE 'opsflow.%' AND NOT EXISTS (SELECT 1 FROM kpi_measurements m WHERE m.kpi_key = kpis.key);
