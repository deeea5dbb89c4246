package main

import (
	"fmt"
	"io"
	"strings"
)

// helpTopics are the topics of "ocireg help TOPIC": what a user who
// installed the binary alone needs, without the README.
var helpTopics = map[string]string{
	"config":     configHelp,
	"registries": registriesHelp,
}

// runHelp implements "ocireg help [TOPIC]" and returns the exit code.
func runHelp(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(stdout, usage)
		return exitOK
	case len(args) == 1 && helpTopics[args[0]] != "":
		fmt.Fprint(stdout, helpTopics[args[0]])
		return exitOK
	}
	fmt.Fprintf(stderr, "ocireg: no help on %q; topics: config, registries (or run ocireg COMMAND -h)\n", strings.Join(args, " "))
	return exitUsage
}

const registriesHelp = `How the client verbs name and reach registries

References:
  HOST[:PORT]/REPO[:TAG][@DIGEST]   a registry; without a host, Docker Hub
                                    (alpine = docker.io/library/alpine)
  oci:DIR[:TAG][@DIGEST]            an OCI image layout directory
  Without a tag or digest, "latest" is meant.

Plain HTTP or TLS:
  localhost, 127.0.0.1 and ::1 are reached over HTTPS when a TLS server
  answers there, else plain HTTP; other hosts over HTTPS.
  --plain-http         plain HTTP to any host
  --insecure           TLS without verifying the certificate
  --ca-file FILE       trust this CA (PEM) too; may be repeated
  Per host, in ~/.config/ocireg/hosts.yaml (or $OCIREG_HOSTS; relative
  paths are from the file's directory):
    hosts:
      registry.internal:5000:
        caFiles: [ca.pem]
        insecure: false
        plainHTTP: false
        certFile: client.cert    # a client certificate (mutual TLS)
        keyFile: client.key
  and in the certs.d/HOST[:PORT]/ directories that docker and podman use
  (~/.config/containers/certs.d, /etc/containers/certs.d,
  /etc/docker/certs.d): each *.crt is a CA, a *.cert with its *.key a
  client certificate.

Credentials, first found wins:
  $DOCKER_AUTH_CONFIG    a whole docker config as inline JSON (CI)
  $DOCKER_CONFIG/config.json, else ~/.docker/config.json, with its
                         credential helpers (credHelpers, credsStore)
  $REGISTRY_AUTH_FILE    and $XDG_RUNTIME_DIR/containers/auth.json (podman)
  ocireg login HOST -u USER --password-stdin   checks and saves them (with
                         the config's credential helper when it names one)
  ocireg logout HOST     removes them

Exit codes: 0 success, 1 failure, 2 bad command line, 3 not found; verbs
that check content (validate, check) also use 1 for "damaged".
`

const configHelp = `ocireg serve --config FILE: the config file

The file is YAML. Every field is optional but registry; a flag given on
the command line wins over the field it names. Relative paths (dir,
htpasswd, tls cert and key, token key) are relative to the file's
directory. Mistakes are reported as FILE:LINE:COLUMN: message, all at
once, before anything is created or listened on (exit 2).

  addr: 127.0.0.1:5000         # --addr: host:port to listen on
  logFormat: json              # --log-format: text or json
  tls: {cert: FILE, key: FILE} # --tls-cert, --tls-key: serve HTTPS
  htpasswd: FILE               # --htpasswd: Basic auth (bcrypt entries)
  access:                      # who may do what (needs htpasswd): an
    - users: [alice]           #   access is allowed when any rule names
      repositories: ["**"]     #   the user ("*": every user), the
      allow: [pull, push, delete] # repository and the access; else 403
  issuers:                     # OpenID Connect issuers whose ID tokens are
    - url: https://token.actions.githubusercontent.com # taken as passwords
      audience: ocireg         #   required: the aud the tokens must hold
      claim: sub               #   the claim naming the identity
      prefix: "github:"        #   before it (default: the url's host and
                               #   path and ":"; no prefix may start
                               #   another); access rules name
                               #   PREFIX+CLAIM, and "*" never matches
                               #   such identities; issuers need rules
  token:                       # bearer tokens at /token (needs htpasswd
                               #   or issuers):
    key: FILE                  #   PEM private key (EC, Ed25519, RSA of
                               #   2048 bits or more); replicas share it;
                               #   default: a key made at start
    issuer: ocireg             #   the tokens' iss claim
    service: ocireg            #   their aud claim and the challenge's service
    realm: URL                 #   the token URL in challenges; default:
                               #   /token on the address the client used
    expiry: 5m                 #   a token's life (1m to 24h)
  events:                      # tell endpoints of every change (push,
    dir: DIR                   #   mount, delete), through a durable
    maxPending: 100000         #   outbox in DIR (one per replica): an
    endpoints:                 #   event is on disk before the change
      - name: hook             #   is answered, and delivered at least
        url: URL               #   once, in order, with a stable id;
        format: distribution   #   or cloudevents
        headers: {Authorization: "Bearer ..."}
        timeout: 10s           #   of one delivery; failed ones are
                               #   tried again, waiting up to 5m; past
                               #   maxPending waiting, changes get 429
  anonymousMount: false        # --no-anonymous-mount: a mount without
                               #   from= starts an upload (default true:
                               #   the blob is mounted from any repository)
  limits:                      # what clients can make the server hold
    headerBytes: 64KiB         #   --max-header-bytes: 431 past it
    headerTimeout: 10s         #   --header-timeout: to send headers
    readTimeout: 1m            #   --read-timeout: request body idle
    writeTimeout: 1m           #   --write-timeout: response idle
    idleTimeout: 2m            #   --idle-timeout: keep-alive idle
    uploadTimeout: 1h          #   --upload-timeout: upload idle, then
                               #   abandoned and freed
    uploads: 1000              #   --max-uploads: in progress; 429 past
    memUploadBytes: 2GiB       #   --mem-max-upload-bytes: held by the
                               #   uploads of mem registries; 429 past
  registry: REGISTRY           # required: what to serve

Repository patterns are path.Match patterns, where "*" does not match a
slash; a pattern ending in "**" matches every repository starting with
what matches the part before it, so "team/**" matches team/app and
team/a/b, "*/app/**" matches org/app/x, and "**" alone matches every
repository. A pattern whose literal part no repository name can hold,
or a rule for a user the htpasswd file lacks, is a mistake. Sizes are bytes or a number with
KiB, MiB or GiB; a limit of 0 is none (for headerBytes: 1MiB).

A REGISTRY is a mapping with a kind and that kind's fields:

  kind: mem                    # in memory, lost when the server stops
    laxReferences: BOOL        #   accept manifests before their blobs
                               #   (as --lax-references); default false

  kind: fs                     # on disk, durable (fsync before 201)
    dir: DIR                   #   required: created when missing
    laxReferences: BOOL        #   as for mem

  kind: s3                     # in an S3-compatible bucket, which any
    bucket: BUCKET             #   number of replicas may serve; required
    prefix: PREFIX             #   keys under this prefix
    endpoint: URL              #   S3-compatible service; default AWS
    region: REGION             #   where the service needs one
    pathStyle: BOOL            #   path-style addressing
    redirect: BOOL             #   blob GETs answer 307 to presigned URLs
    laxReferences: BOOL        #   as for mem; credentials come from the
                               #   AWS chain (AWS_ACCESS_KEY_ID, ...)

  kind: remote                 # another registry, over HTTP(S)
    url: URL                   #   required: https://host, http://host
    insecure: BOOL             #   talk plain HTTP to it
    username: USER             #   with password: Basic or token auth;
    password: PASSWORD         #   without, the docker config's
    responseTimeout: DURATION  #   how long it may take to answer a
                               #   request once sent (default 1m)

  kind: proxy                  # pull-through cache; refuses pushes
    upstream: REGISTRY         #   required: where content comes from
    cache: REGISTRY            #   required: where it is kept
    tagTTL: DURATION           #   how long a tag is trusted (e.g. 10m)
    stallTimeout: DURATION     #   a fill that reads nothing this long
                               #   is given up by those waiting on it

  kind: unify                  # two registries seen as one: reads from
    registries: [A, B]         #   either, writes to both; a tag that
                               #   differs between them is an error

  kind: readonly               # refuses every push and delete (403)
    registry: REGISTRY

  kind: immutable              # a tag, once pushed, never moves, and
    registry: REGISTRY         #   what it pulls is never deleted; the
                               #   check is this process's: replicas
                               #   sharing a store can race on a new tag

  kind: select                 # only the repositories matching
    registry: REGISTRY         #   one of the patterns
    repositories: [PATTERN...]

  kind: sub                    # the repositories under prefix,
    registry: REGISTRY         #   served without it: with prefix
    prefix: PREFIX             #   myorg, myorg/app is served as app

Examples:

  # A private registry on disk; tags never move.
  addr: 0.0.0.0:5000
  tls: {cert: cert.pem, key: key.pem}
  htpasswd: users.htpasswd
  access:
    - {users: [alice], repositories: ["**"], allow: [pull, push, delete]}
    - {users: ["*"], repositories: ["team/**"], allow: [pull]}
  registry: {kind: immutable, registry: {kind: fs, dir: /var/lib/ocireg}}

  # A read-only mirror of some Docker Hub repositories.
  registry:
    kind: readonly
    registry:
      kind: select
      repositories: ["library/*", "myorg/**"]
      registry:
        kind: proxy
        upstream: {kind: remote, url: https://registry-1.docker.io}
        cache: {kind: fs, dir: /var/cache/ocireg}
        tagTTL: 10m
`
