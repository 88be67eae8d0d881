package api

// Service is a Kubernetes core/v1 Service: a name for the pods its Selector
// matches, on its Ports.
type Service struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ServiceSpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// ServiceSpec is the body of a Service.
type ServiceSpec struct {
	Selector map[string]string `json:"selector,omitempty"`
	Ports    []ServicePort     `json:"ports"`
	Type     string            `json:"type,omitempty"`

	_ struct{} `lanemesh:"ignored=clusterIP"`
	_ struct{} `lanemesh:"ignored=clusterIPs"`
	_ struct{} `lanemesh:"ignored=sessionAffinity"`
	_ struct{} `lanemesh:"ignored=ipFamilies"`
	_ struct{} `lanemesh:"ignored=ipFamilyPolicy"`
	_ struct{} `lanemesh:"ignored=internalTrafficPolicy"`
	_ struct{} `lanemesh:"ignored=externalTrafficPolicy"`
}

// ServicePort maps a service port to a container port (TargetPort: a number
// or a container port name; zero means the same number as Port).
type ServicePort struct {
	Name        string      `json:"name,omitempty"`
	Port        uint32      `json:"port"`
	TargetPort  IntOrString `json:"targetPort,omitempty"`
	Protocol    string      `json:"protocol,omitempty"`
	AppProtocol string      `json:"appProtocol,omitempty"`

	_ struct{} `lanemesh:"ignored=nodePort"`
}

// Deployment is a Kubernetes apps/v1 Deployment: Replicas pods made from
// Template. Local mode runs each pod as a process with its own sidecar.
type Deployment struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta     `json:"metadata"`
	Spec     DeploymentSpec `json:"spec"`

	_ struct{} `lanemesh:"ignored=status"`
}

// DeploymentSpec is the body of a Deployment. A nil Replicas means 1.
type DeploymentSpec struct {
	Replicas *int32 `json:"replicas,omitempty"`
	Selector *struct {
		MatchLabels map[string]string `json:"matchLabels,omitempty"`

		_ struct{} `lanemesh:"unsupported=matchExpressions"`
	} `json:"selector,omitempty"`
	Template PodTemplate `json:"template"`

	_ struct{} `lanemesh:"ignored=strategy"`
	_ struct{} `lanemesh:"ignored=minReadySeconds"`
	_ struct{} `lanemesh:"ignored=revisionHistoryLimit"`
	_ struct{} `lanemesh:"ignored=progressDeadlineSeconds"`
	_ struct{} `lanemesh:"ignored=paused"`
}

// ReplicaCount returns Replicas, defaulting to 1.
func (s DeploymentSpec) ReplicaCount() int32 {
	if s.Replicas == nil {
		return 1
	}
	return *s.Replicas
}

// PodTemplate is a Deployment's pod template.
type PodTemplate struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
}

// PodSpec is the part of a pod spec local mode honours.
type PodSpec struct {
	Containers []Container `json:"containers"`

	_ struct{} `lanemesh:"ignored=initContainers"`
	_ struct{} `lanemesh:"ignored=volumes"`
	_ struct{} `lanemesh:"ignored=serviceAccountName"`
	_ struct{} `lanemesh:"ignored=serviceAccount"`
	_ struct{} `lanemesh:"ignored=nodeSelector"`
	_ struct{} `lanemesh:"ignored=affinity"`
	_ struct{} `lanemesh:"ignored=tolerations"`
	_ struct{} `lanemesh:"ignored=securityContext"`
	_ struct{} `lanemesh:"ignored=imagePullSecrets"`
	_ struct{} `lanemesh:"ignored=restartPolicy"`
	_ struct{} `lanemesh:"ignored=terminationGracePeriodSeconds"`
	_ struct{} `lanemesh:"ignored=dnsPolicy"`
	_ struct{} `lanemesh:"ignored=schedulerName"`
}

// Container is one container of a pod: the built-in mock app for image
// lanemesh/mock, otherwise Command and Args run as a local process.
type Container struct {
	Name           string          `json:"name"`
	Image          string          `json:"image,omitempty"`
	Command        []string        `json:"command,omitempty"`
	Args           []string        `json:"args,omitempty"`
	Env            []EnvVar        `json:"env,omitempty"`
	Ports          []ContainerPort `json:"ports,omitempty"`
	ReadinessProbe *Probe          `json:"readinessProbe,omitempty"`
	WorkingDir     string          `json:"workingDir,omitempty"`

	_ struct{} `lanemesh:"ignored=imagePullPolicy"`
	_ struct{} `lanemesh:"ignored=resources"`
	_ struct{} `lanemesh:"ignored=livenessProbe"`
	_ struct{} `lanemesh:"ignored=startupProbe"`
	_ struct{} `lanemesh:"ignored=volumeMounts"`
	_ struct{} `lanemesh:"ignored=securityContext"`
	_ struct{} `lanemesh:"ignored=terminationMessagePath"`
	_ struct{} `lanemesh:"ignored=terminationMessagePolicy"`
	_ struct{} `lanemesh:"unsupported=envFrom"`
}

// EnvVar is one environment variable with a literal value.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`

	_ struct{} `lanemesh:"unsupported=valueFrom"`
}

// ContainerPort is a port the container listens on.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort uint32 `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
}

// Probe is a readiness probe: an HTTP GET or a TCP connect.
type Probe struct {
	HTTPGet *struct {
		Path   string      `json:"path,omitempty"`
		Port   IntOrString `json:"port"`
		Scheme string      `json:"scheme,omitempty"`

		_ struct{} `lanemesh:"ignored=httpHeaders"`
		_ struct{} `lanemesh:"unsupported=host"`
	} `json:"httpGet,omitempty"`
	TCPSocket *struct {
		Port IntOrString `json:"port"`
	} `json:"tcpSocket,omitempty"`
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int32 `json:"periodSeconds,omitempty"`
	TimeoutSeconds      int32 `json:"timeoutSeconds,omitempty"`
	FailureThreshold    int32 `json:"failureThreshold,omitempty"`
	SuccessThreshold    int32 `json:"successThreshold,omitempty"`

	_ struct{} `lanemesh:"unsupported=exec"`
	_ struct{} `lanemesh:"unsupported=grpc"`
}

// EnvValue returns the value of the named variable, and whether it is set.
func (c Container) EnvValue(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}
