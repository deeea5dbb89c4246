package bench

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The object-storage pair (-servers=ocireg-s3,distribution-s3): "ocireg serve" with a registry
// of kind s3 and Distribution with its s3 driver, both on buckets of one
// versitygw started for the run, so that the two share the store and
// its speed.

const (
	s3AccessKey = "ocireg-bench"
	s3SecretKey = "ocireg-bench-secret"
	s3Region    = "us-east-1"
)

// gateway is the versitygw of the object-storage case, once started.
var gateway struct {
	server   *server
	endpoint string
}

// startGateway starts versitygw (bin) over dir/s3 with the buckets
// "ocireg" and "distribution", and waits until it answers.
func startGateway(bin, dir string) error {
	root := filepath.Join(dir, "s3")
	for _, b := range []string{"ocireg", "distribution"} {
		// The posix backend serves each directory of its root as a
		// bucket.
		if err := os.MkdirAll(filepath.Join(root, b), 0o777); err != nil {
			return err
		}
	}
	host, err := freeHost()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--port", host, "--access", s3AccessKey, "--secret", s3SecretKey,
		"--region", s3Region, "--keep-alive", "--quiet", "posix", root)
	s, err := startProcess("versitygw", cmd, dir)
	if err != nil {
		return err
	}
	gateway.server, gateway.endpoint = s, "http://"+host
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(gateway.endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw not answering: %v\n%s", err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// s3Env is the environment of a server that reaches the gateway with
// the standard AWS chain.
func s3Env(dir string) []string {
	return append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+s3AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3SecretKey,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "nosuch-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "nosuch-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

// ociregS3Config writes the config file of "ocireg serve" for the
// object-storage case and returns its path. With redirect, blob GETs
// answer 307 to presigned URLs of the gateway.
func ociregS3Config(dir string, redirect bool) (string, error) {
	config := filepath.Join(dir, fmt.Sprintf("ocireg-s3-%v.yaml", redirect))
	data := fmt.Sprintf("registry: {kind: s3, bucket: ocireg, endpoint: %q, region: %s, pathStyle: true, redirect: %v}\n", gateway.endpoint, s3Region, redirect)
	return config, os.WriteFile(config, []byte(data), 0o666)
}

// distributionS3Config returns a configuration of CNCF Distribution's
// registry on host with its s3 driver on the gateway's "distribution"
// bucket, otherwise as toolstest.DistributionConfig.
func distributionS3Config(host string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: %s
    secretkey: %s
    region: %s
    regionendpoint: %s
    forcepathstyle: true
    bucket: distribution
    secure: false
  delete:
    enabled: true
  redirect:
    disable: true
http:
  addr: %s
  secret: toolstest
`, s3AccessKey, s3SecretKey, s3Region, gateway.endpoint, host)
}
