package kube

import (
	"context"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Elect runs leader election on a Lease named name in namespace until ctx
// is done, calling lead(true) when this replica becomes the leader and
// lead(false) when it stops being one. Every replica serves xDS; only what
// must have one writer (status, Events) waits for the lease.
func Elect(ctx context.Context, cfg *rest.Config, namespace, name, identity string, log *slog.Logger, lead func(bool)) error {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1ObjectMeta(namespace, name),
		Client:     kc.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			ReleaseOnCancel: true,
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			Name:            name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) {
					log.Info("leading", "lease", namespace+"/"+name, "identity", identity)
					lead(true)
				},
				OnStoppedLeading: func() {
					log.Info("no longer leading", "lease", namespace+"/"+name)
					lead(false)
				},
			},
		})
	}
	return nil
}

func metav1ObjectMeta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}
