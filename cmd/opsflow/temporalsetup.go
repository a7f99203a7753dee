package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/opsflow/opsflow/internal/config"
	"github.com/opsflow/opsflow/internal/deploy"
)

// runTemporalSetup prepares opsflow's namespace on a production Temporal
// server, once its schema exists and it runs: registers the namespace with
// the configured retention (or corrects the retention of an existing one),
// registers opsflow's search attributes, and waits until the frontend
// serves the namespace, so a worker or API started next does not meet
// "namespace not found". Safe to run again: docker-compose.yml runs it as
// the one-shot service temporal-setup, TestProduction as a child process.
func runTemporalSetup(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg config.Config
	fs := newFlags("temporal-setup", &cfg, "temporal-address", "temporal-namespace", "temporal-retention", "log-level")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the Temporal frontend to answer")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	log, err := cfg.Logger()
	if err != nil {
		return err
	}
	retention, err := time.ParseDuration(cfg.TemporalRetention)
	if err != nil || retention < 24*time.Hour {
		// Temporal refuses less than a day.
		return fmt.Errorf("temporal-retention %q: want a duration of at least 24h, such as %s", cfg.TemporalRetention, deploy.Retention)
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	tc, err := dialWhenUp(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"namespace " + cfg.TemporalNamespace, func(ctx context.Context) error {
			return ensureNamespace(ctx, tc, cfg.TemporalNamespace, retention, log)
		}},
		{"search attributes", func(ctx context.Context) error {
			return ensureSearchAttributes(ctx, tc, cfg.TemporalNamespace, deploy.SearchAttributes, log)
		}},
		{"namespace served", func(ctx context.Context) error { return namespaceServed(ctx, tc, cfg.TemporalNamespace) }},
	}
	for _, s := range steps {
		if err := retryUntil(ctx, s.do); err != nil {
			return fmt.Errorf("temporal-setup: %s: %w", s.what, err)
		}
	}
	fmt.Fprintf(stdout, "namespace %s ready on %s: retention %s, search attributes %v\n",
		cfg.TemporalNamespace, cfg.TemporalAddress, retention, slices.Sorted(maps.Keys(deploy.SearchAttributes)))
	return nil
}

// dialWhenUp dials Temporal, retrying until ctx ends: in a compose start
// the server may still be coming up.
func dialWhenUp(ctx context.Context, cfg *config.Config, log *slog.Logger) (client.Client, error) {
	var tc client.Client
	err := retryUntil(ctx, func(ctx context.Context) error {
		c, err := dialTemporal(ctx, cfg, log, nil)
		if err != nil {
			return err
		}
		if _, err := c.WorkflowService().GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{}); err != nil {
			c.Close()
			return fmt.Errorf("GetClusterInfo: %w", err)
		}
		tc = c
		return nil
	})
	return tc, err
}

// retryUntil calls f until it succeeds or ctx ends, each call bounded to
// 10 s, and returns the last error.
func retryUntil(ctx context.Context, f func(context.Context) error) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %w)", err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func ensureNamespace(ctx context.Context, tc client.Client, ns string, retention time.Duration, log *slog.Logger) error {
	d, err := tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &notFound):
		_, err := tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        ns,
			Description:                      "opsflow processes (CAPA, Kaizen, onboarding)",
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register: %w", err)
		}
		log.Info("namespace registered", "namespace", ns, "retention", retention)
		return errors.New("registered; checking it")
	case err != nil:
		return fmt.Errorf("describe: %w", err)
	}
	if got := d.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != retention {
		_, err := tc.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
			Namespace: ns,
			Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(retention)},
		})
		if err != nil {
			return fmt.Errorf("set retention %s (was %s): %w", retention, got, err)
		}
		log.Info("namespace retention changed", "namespace", ns, "from", got, "to", retention)
		return errors.New("retention changed; checking it")
	}
	return nil
}

// ensureSearchAttributes registers the attributes the namespace lacks and
// reports success only once a List shows every one with its type.
func ensureSearchAttributes(ctx context.Context, tc client.Client, ns string, attrs map[string]string, log *slog.Logger) error {
	have, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		want, err := enumspb.IndexedValueTypeFromString(attrs[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		got, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = want
		case got != want:
			// Temporal cannot change an attribute's type; a person must
			// decide (a new name, or removing the old one).
			return fmt.Errorf("search attribute %s is %s on the server, opsflow needs %s", name, got, want)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add: %w", err)
	}
	log.Info("search attributes registered", "namespace", ns, "attributes", slices.Sorted(maps.Keys(missing)))
	return errors.New("registered; checking them")
}

// namespaceServed reports whether the frontend serves calls in the
// namespace: a new namespace reaches the frontend's cache some seconds
// after it is registered, and a worker started before would fail to poll.
func namespaceServed(ctx context.Context, tc client.Client, ns string) error {
	_, err := tc.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: ns, TaskQueue: &taskqueuepb.TaskQueue{Name: "opsflow-setup-probe", Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
	})
	return err
}
