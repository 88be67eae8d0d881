package cli

import (
	"bytes"
	"fmt"
	"io"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/deploy"
)

// imageRef is what --image may be: a registry/repository[:tag][@digest]
// reference, nothing that could break out of a YAML scalar.
var imageRef = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$`)

func newInstall(stdout io.Writer) *cobra.Command {
	var dryRun bool
	var image string
	cmd := &cobra.Command{
		Use:   "install --dry-run [--image IMAGE]",
		Short: "Print the Kubernetes manifests that install lanemesh",
		Long: `install prints lanemesh's Kubernetes manifests, the files of deploy/ in
order: the istio-system namespace, the networking.istio.io CRDs (with ASM's
fallback) and ASM's lane kinds, RBAC, the control plane Deployment and Service, the
sidecar-injection webhook configuration and the ingress gateway.

It does not talk to the cluster: kubectl already applies server-side,
waits and reports, and a printed manifest can be reviewed first. Pipe it:

  lanemesh install --dry-run | kubectl apply --server-side -f -

Then label a namespace for injection: kubectl label namespace default istio-injection=enabled`,
		Example: "  lanemesh install --dry-run | kubectl apply --server-side -f -\n" +
			"  lanemesh install --dry-run --image registry.example/lanemesh:v0.3.0 > lanemesh.yaml",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if !dryRun {
				return usageError{fmt.Errorf("install only prints the manifests: run lanemesh install --dry-run | kubectl apply --server-side -f -")}
			}
			if !imageRef.MatchString(image) {
				return usageError{fmt.Errorf("--image %q is not an image reference (REPOSITORY[:TAG][@sha256:DIGEST], lower case)", image)}
			}
			_, err := stdout.Write(Manifests(image))
			return err
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the manifests instead of applying them (required: install applies nothing itself)")
	cmd.Flags().StringVar(&image, "image", deploy.Image, "the lanemesh image the control plane, gateway and injected sidecars run")
	return cmd
}

// Manifests is the install stream: deploy's files in order, each
// introduced by its source, with deploy.Image replaced by image.
func Manifests(image string) []byte {
	var b bytes.Buffer
	for i, m := range deploy.Manifests() {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "# Source: deploy/%s\n", m.Name)
		b.Write(bytes.ReplaceAll(m.Data, []byte(deploy.Image), []byte(image)))
		if !bytes.HasSuffix(m.Data, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
