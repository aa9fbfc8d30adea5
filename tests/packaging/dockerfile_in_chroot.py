#!/usr/bin/python3
"""Builds the repository's Dockerfile without a Docker engine, then runs it.

This machine (and CI) has the Docker client but no engine. So this script
reads the Dockerfile and carries out its instructions itself, the same
commands, each stage in a fresh Debian 12 root made by debian_root.sh (the
stand-in for debian:12-slim: debootstrap minbase plus the slim image's dpkg
excludes and apt settings):

  FROM debian:12-slim / FROM <stage>   a new root / a copy of that stage's root (and its
                                       ENV, WORKDIR, USER, HEALTHCHECK, ENTRYPOINT, CMD, EXPOSE)
  ARG, ENV, WORKDIR, USER              tracked as Docker does
  RUN <shell> / RUN ["exec", ...]      chroot, /bin/sh -c, with the ENV and WORKDIR
  COPY [--from=<stage>] SRC... DEST    from the context (.dockerignore applied) or a stage
  HEALTHCHECK, ENTRYPOINT, CMD,        recorded, then used by the run check
  EXPOSE, VOLUME, LABEL

Then it checks the final stage as `docker run` would start it: ENTRYPOINT +
CMD as the image's USER with its ENV, in a network namespace of its own where
net.ipv4.ip_unprivileged_port_start is set as our manifests set it. It waits
for the HEALTHCHECK command to pass, POSTs a real test image to the server
with the image's own binary, stops it with SIGTERM and expects exit 0. It
also verifies that every shared library the binary and the FFmpeg module need
resolves in the final root (the full image, the default target), that a
video-file source (`serve --source cam=<a short MJPEG AVI>`) delivers frames,
and reports the root's size.

--slim STAGE checks that stage too, as the slim image (docker build --target
STAGE): the binary's libraries resolve, FFmpeg's do not (none installed), it
serves apple1.jpg, and the same video-file source is in state error naming
the FFmpeg packages. All stages are carried out once, in one run.

--platform linux/arm64 or linux/arm/v7 carries the stages out in Debian 12
roots of that architecture (arm64, armhf), run under qemu-user-static as
`docker buildx build --platform` runs them on an x86 machine. The build
stage compiles edgevision there natively, which under qemu takes hours on
2 cores; --prebuilt STAGE=DIR replaces that one stage by its result, made
beforehand by scripts/arm/docker-build-stage.sh from the cross build (the
same `cmake --install --component runtime --strip` and runtime-deps.sh as
the stage's last RUN, in a root of the same architecture). Every other
instruction, and the run check, is carried out as written.

Exit 0: built and served. Exit 1: a step failed (its output is shown).
Exit 77: cannot run here (not root, no debootstrap, no unshare); 1 instead
under EDGEVISION_REQUIRE_ALL=1 (CI).

Usage: dockerfile_in_chroot.py [--context DIR] [--keep] [--workdir DIR] [--slim STAGE]
                               [--platform linux/amd64|linux/arm64|linux/arm/v7] [--prebuilt STAGE=DIR]
"""
import argparse
import copy
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import support  # noqa: E402  (tests/support.py)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PLATFORMS = {"linux/amd64": "amd64", "linux/arm64": "arm64", "linux/arm/v7": "armhf"}
BASE_IMAGES = {"debian:12-slim", "debian:bookworm-slim", "docker.io/library/debian:12-slim"}
SUPPORTED = {"FROM", "ARG", "ENV", "WORKDIR", "USER", "RUN", "COPY", "HEALTHCHECK", "ENTRYPOINT", "CMD",
             "EXPOSE", "VOLUME", "LABEL"}


def log(msg):
    print(f"[dockerfile] {msg}", flush=True)


def parse_dockerfile(path):
    """Returns [(lineno, INSTRUCTION, rest)] with continuations joined."""
    out, buf, start = [], "", 0
    with open(path, encoding="utf-8") as f:
        for no, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            stripped = line.strip()
            if not buf and (not stripped or stripped.startswith("#")):
                continue
            if buf and stripped.startswith("#"):
                continue  # comment lines inside a continuation are dropped, as Docker does
            if not buf:
                start = no
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            word, _, rest = buf.strip().partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf = ""
    if buf:
        raise SystemExit(f"Dockerfile: unterminated continuation from line {start}")
    return out


def substitute(text, variables):
    def repl(m):
        name = m.group(1) or m.group(2)
        return variables.get(name, "")
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", repl, text)


def exec_form(rest):
    """JSON array form, or None for shell form."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except json.JSONDecodeError:
            pass
    return None


def parse_kv(rest):
    """ENV/LABEL/ARG: k=v pairs (shell-quoted) or the legacy 'k v' form."""
    words = shlex.split(rest)
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    pairs = []
    for w in words:
        k, _, v = w.partition("=")
        pairs.append((k, v))
    return pairs


def load_dockerignore(context):
    patterns = []
    path = os.path.join(context, ".dockerignore")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    patterns.append(line.strip("/"))
    return patterns


def ignored(rel, patterns):
    """Docker's rule for the patterns we use: a pattern matches a path or any
    of its parent folders; '**/' matches any number of folders."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for p in patterns:
            if p.startswith("!"):
                raise SystemExit(".dockerignore: exceptions (!) are not supported by this checker")
            if fnmatch.fnmatchcase(prefix, p):
                return True
            if p.startswith("**/") and fnmatch.fnmatchcase(parts[i - 1], p[3:]):
                return True
    return False


class Stage:
    def __init__(self, name, root):
        self.name = name
        self.root = root
        self.env = {"PATH": DEFAULT_PATH}
        self.workdir = "/"
        self.user = None
        self.healthcheck = None
        self.entrypoint = []
        self.cmd = []
        self.expose = []


class Builder:
    def __init__(self, context, workdir, here, arch="amd64", prebuilt=None):
        self.arch = arch
        self.prebuilt = prebuilt or {}
        self.context = os.path.abspath(context)
        self.workdir = workdir
        self.here = here
        self.stages = []
        self.args = {}
        self.ignore = load_dockerignore(self.context)

    def make_root(self, name):
        root = os.path.join(self.workdir, f"stage-{len(self.stages)}-{name or 'anon'}")
        subprocess.run([os.path.join(self.here, "debian_root.sh"), self.arch, root], check=True)
        return root

    def in_root(self, stage, command, user=None, check=True):
        """Runs argv `command` in the stage's root with /proc and /dev, in a
        private mount namespace (mounts vanish with the process)."""
        env = ["env", "-i"] + [f"{k}={v}" for k, v in stage.env.items()]
        if "HOME" not in stage.env:
            env.append("HOME=/root")
        userspec = [f"--userspec={user}"] if user else []
        inner = ('set -e; R="$1"; shift; mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; '
                 'exec chroot "$@"')
        argv = (["unshare", "--mount", "--propagation", "private", "--fork", "--", "/bin/sh", "-c", inner, "sh",
                 stage.root] + userspec + [stage.root] + env + ["/bin/sh", "-c", 'cd "$0" && exec "$@"',
                                                               stage.workdir] + command)
        return subprocess.run(argv, check=check)

    def copy(self, stage, rest, lineno):
        words = shlex.split(rest)
        source_stage = None
        flags = [w for w in words if w.startswith("--")]
        words = [w for w in words if not w.startswith("--")]
        for f in flags:
            if f.startswith("--from="):
                wanted = f.split("=", 1)[1]
                matches = [s for s in self.stages if s.name == wanted]
                if not matches:
                    raise SystemExit(f"Dockerfile:{lineno}: COPY --from={wanted}: no such stage")
                source_stage = matches[0]
            else:
                raise SystemExit(f"Dockerfile:{lineno}: COPY {f} is not supported by this checker")
        *sources, dest = [substitute(w, {**self.args, **stage.env}) for w in words]
        if not dest.startswith("/"):
            dest = os.path.join(stage.workdir, dest)
        target = stage.root + dest
        for src in sources:
            if source_stage:
                origin = source_stage.root + "/" + src.lstrip("/")
                self._copy_tree(origin, target, dest.endswith("/") or len(sources) > 1, None)
            else:
                origin = os.path.normpath(os.path.join(self.context, src))
                if not origin.startswith(self.context):
                    raise SystemExit(f"Dockerfile:{lineno}: COPY {src} leaves the context")
                self._copy_tree(origin, target, dest.endswith("/") or len(sources) > 1, self.context)

    def _copy_tree(self, origin, target, into_dir, context):
        if os.path.isdir(origin):
            os.makedirs(target, exist_ok=True)
            for dirpath, dirnames, filenames in os.walk(origin):
                rel_dir = os.path.relpath(dirpath, origin)
                out_dir = os.path.normpath(os.path.join(target, rel_dir))
                os.makedirs(out_dir, exist_ok=True)
                keep = []
                for d in dirnames:
                    full = os.path.join(dirpath, d)
                    if context is not None and ignored(os.path.relpath(full, context), self.ignore):
                        continue
                    if os.path.islink(full):  # copied as the link it is, not walked
                        filenames.append(d)
                        continue
                    keep.append(d)
                dirnames[:] = keep
                for fn in filenames:
                    src = os.path.join(dirpath, fn)
                    if context is not None and ignored(os.path.relpath(src, context), self.ignore):
                        continue
                    dst = os.path.join(out_dir, fn)
                    if os.path.lexists(dst) and not os.path.isdir(dst):
                        os.unlink(dst)
                    shutil.copy2(src, dst, follow_symlinks=False)
        else:
            dst = os.path.join(target, os.path.basename(origin)) if into_dir else target
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(origin, dst, follow_symlinks=False)

    def build(self, dockerfile):
        stage = None
        for lineno, word, rest in parse_dockerfile(dockerfile):
            if word not in SUPPORTED:
                raise SystemExit(f"Dockerfile:{lineno}: {word} is not supported by this checker")
            if stage is not None and stage.name in self.prebuilt and word != "FROM" and word != "ARG":
                log(f"line {lineno}: {word} … not carried out: stage {stage.name} is prebuilt")
                continue
            if word == "ARG":
                for k, v in parse_kv(rest):
                    if stage is None or k not in self.args:
                        self.args[k] = v
                continue
            if word == "FROM":
                m = re.match(r"^(\S+)(?:\s+AS\s+(\S+))?$", substitute(rest, self.args), re.IGNORECASE)
                image, name = m.group(1), m.group(2)
                previous = [s for s in self.stages if s.name == image]
                log(f"line {lineno}: FROM {image}" + (f" AS {name}" if name else ""))
                if name in self.prebuilt:
                    root = os.path.abspath(self.prebuilt[name])
                    log(f"stage {name}: its result is taken from {root} (--prebuilt)")
                elif previous:
                    root = os.path.join(self.workdir, f"stage-{len(self.stages)}-{name}")
                    subprocess.run(["cp", "-a", previous[0].root, root], check=True)
                    # Docker: a stage built FROM another keeps its image config.
                    stage = copy.deepcopy(previous[0])
                    stage.name, stage.root = name, root
                    self.stages.append(stage)
                    continue
                elif image in BASE_IMAGES:
                    root = self.make_root(name)
                else:
                    raise SystemExit(f"Dockerfile:{lineno}: base image {image} is not Debian 12 slim")
                stage = Stage(name, root)
                self.stages.append(stage)
                continue
            variables = {**self.args, **stage.env}
            if word == "ENV":
                for k, v in parse_kv(rest):
                    stage.env[k] = substitute(v, variables)
            elif word == "WORKDIR":
                wd = substitute(rest, variables)
                stage.workdir = wd if wd.startswith("/") else os.path.join(stage.workdir, wd)
                os.makedirs(stage.root + stage.workdir, exist_ok=True)
            elif word == "USER":
                stage.user = substitute(rest, variables)
            elif word == "RUN":
                argv = exec_form(rest) or ["/bin/sh", "-c", rest]
                log(f"line {lineno}: RUN {rest[:120]}{'…' if len(rest) > 120 else ''}")
                started = time.monotonic()
                # Build-time ARGs are visible to RUN as environment variables.
                saved = dict(stage.env)
                stage.env.update({k: v for k, v in self.args.items() if k not in stage.env})
                try:
                    self.in_root(stage, argv, user=self._userspec(stage))
                finally:
                    stage.env = saved
                log(f"line {lineno}: done in {time.monotonic() - started:.0f} s")
            elif word == "COPY":
                log(f"line {lineno}: COPY {rest}")
                self.copy(stage, rest, lineno)
            elif word == "HEALTHCHECK":
                m = re.search(r"\bCMD\s+(.*)$", rest)
                stage.healthcheck = exec_form(m.group(1)) or ["/bin/sh", "-c", m.group(1)]
            elif word == "ENTRYPOINT":
                stage.entrypoint = exec_form(rest) or ["/bin/sh", "-c", rest]
            elif word == "CMD":
                stage.cmd = exec_form(rest) or ["/bin/sh", "-c", rest]
            elif word == "EXPOSE":
                stage.expose += [int(p.split("/")[0]) for p in rest.split()]
        return stage

    def _userspec(self, stage):
        if not stage.user:
            return None
        user, _, group = stage.user.partition(":")
        return f"{user}:{group or user}"


def du_bytes(path):
    out = subprocess.run(["du", "-sb", "--one-file-system", path], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


FFMPEG_MODULE = "/usr/lib/edgevision/edgevision-ffmpeg.so"


def unresolved_libraries(stage, elf):
    result = subprocess.run(["chroot", stage.root, "/usr/bin/ldd", elf], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{stage.name} root: ldd {elf} failed: {result.stderr}")
    return [l.split()[0] for l in result.stdout.splitlines() if "not found" in l]


def check_libraries(stage, slim):
    """The binary's libraries resolve; the FFmpeg module's too in the full
    image, in the slim one FFmpeg's (and only FFmpeg's) do not."""
    missing = unresolved_libraries(stage, "/usr/bin/edgevision")
    if missing:
        raise SystemExit(f"{stage.name} root: unresolved libraries of /usr/bin/edgevision: {missing}")
    missing = unresolved_libraries(stage, FFMPEG_MODULE)
    if not slim and missing:
        raise SystemExit(f"{stage.name} root: unresolved libraries of {FFMPEG_MODULE}: {missing}")
    if slim and (not missing or any(not re.match(r"^lib(av|sw|postproc)", m) for m in missing)):
        raise SystemExit(f"{stage.name} root (slim): expected only FFmpeg's libraries missing for {FFMPEG_MODULE}, "
                         f"got {missing}")
    return os.path.getsize(stage.root + "/usr/bin/edgevision")


def run_image(stage, image_file, video_file, want_source, tries=120):
    """Starts ENTRYPOINT+CMD as USER in a private network namespace, with a
    video-file source added to CMD (`docker run IMAGE serve --source ...`),
    waits for the HEALTHCHECK and for the source to reach `want_source`
    (running: frames out; error), and probes /image."""
    port = stage.expose[0] if stage.expose else 80
    start = stage.entrypoint + stage.cmd + ["--source", "cam=/tmp/probe.avi,loop=true"]
    env = " ".join(shlex.quote(f"{k}={v}") for k, v in stage.env.items())
    user = stage.user or "0:0"
    if ":" not in user:
        user = f"{user}:{user}"
    health = " ".join(shlex.quote(a) for a in stage.healthcheck) if stage.healthcheck else "true"
    shutil.copy(image_file, stage.root + "/tmp/probe.jpg")
    shutil.copy(video_file, stage.root + "/tmp/probe.avi")
    os.chmod(stage.root + "/tmp/probe.jpg", 0o644)
    os.chmod(stage.root + "/tmp/probe.avi", 0o644)
    source_ready = ('grep -q \'"state":"error"\'' if want_source == "error" else "grep -q '\"framesOut\":[1-9]'")
    script = f"""
set -u
R={shlex.quote(stage.root)}
ip link set lo up
# As our manifests do (createOptions Sysctls, securityContext.sysctls).
echo {port} > /proc/sys/net/ipv4/ip_unprivileged_port_start
mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"
# Docker gives a container a read-only sysfs; on ARM, XNNPACK's cpuinfo reads
# the processor lists there (without them the server cannot start).
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
# RUN_EXEC=1: exec, so the background job's pid is the server's own (as PID 1
# in a container, it gets the SIGTERM itself).
run() {{ ${{RUN_EXEC:+exec}} chroot --userspec={user} "$R" env -i {env} /bin/sh -c 'cd {shlex.quote(stage.workdir)} && exec "$@"' sh "$@"; }}
RUN_EXEC=1 run {" ".join(shlex.quote(a) for a in start)} >"$R/tmp/server.log" 2>&1 &
server=$!
ok=1
for i in $(seq 1 {tries}); do
  if run {health}; then ok=0; break; fi
  kill -0 $server 2>/dev/null || break
  sleep 0.5
done
echo "healthcheck=$ok after $i tries"
if [ $ok -eq 0 ]; then
  run edgevision predict --server http://127.0.0.1:{port}/image /tmp/probe.jpg >"$R/tmp/prediction.json" || ok=1
fi
# The source's state, by the host's curl (the image has none) in the same namespace.
if [ $ok -eq 0 ]; then
  ok=1
  for i in $(seq 1 {tries}); do
    curl -sf http://127.0.0.1:{port}/sources >"$R/tmp/sources.json" && {source_ready} "$R/tmp/sources.json" && {{ ok=0; break; }}
    kill -0 $server 2>/dev/null || break
    sleep 0.5
  done
  echo "source=$ok after $i tries"
fi
kill -TERM $server 2>/dev/null; wait $server; echo "server_exit=$?"
exit $ok
"""
    result = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "--fork", "/bin/bash", "-c",
                             script], capture_output=True, text=True)
    print(result.stdout, end="")
    server_log = open(stage.root + "/tmp/server.log", encoding="utf-8", errors="replace").read()
    if result.returncode != 0 or "server_exit=0" not in result.stdout:
        print(result.stderr)
        print("--- server log ---\n" + server_log)
        raise SystemExit(f"the image ({stage.name}) did not serve, or its source did not reach state {want_source}")
    prediction = json.load(open(stage.root + "/tmp/prediction.json", encoding="utf-8"))
    sources = {s["name"]: s for s in json.load(open(stage.root + "/tmp/sources.json", encoding="utf-8"))["sources"]}
    return prediction, sources["cam"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", default=os.path.normpath(os.path.join(here, "..", "..")))
    parser.add_argument("--workdir", help="where the stage roots go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the stage roots")
    parser.add_argument("--platform", default="linux/amd64", choices=sorted(PLATFORMS))
    parser.add_argument("--prebuilt", action="append", default=[], metavar="STAGE=DIR",
                        help="take this stage's result from DIR instead of carrying out its instructions")
    parser.add_argument("--slim", metavar="STAGE",
                        help="also check this stage, as the slim image without FFmpeg's libraries")
    args = parser.parse_args()
    arch = PLATFORMS[args.platform]
    prebuilt = dict(p.split("=", 1) for p in args.prebuilt)

    if os.geteuid() != 0:
        return support.skip_or_fail("needs root for chroot and debootstrap")
    for tool in ("debootstrap", "unshare", "chroot", "ip", "curl", "ffmpeg"):
        if shutil.which(tool) is None:
            return support.skip_or_fail(f"{tool} is not installed (scripts/setup-debian.sh --test)")

    workdir = args.workdir or tempfile.mkdtemp(prefix="edgevision-dockerfile-", dir="/var/tmp")
    os.makedirs(workdir, exist_ok=True)
    started = time.monotonic()
    try:
        builder = Builder(args.context, workdir, here, arch, prebuilt)
        final = builder.build(os.path.join(args.context, "Dockerfile"))
        log(f"built in {time.monotonic() - started:.0f} s")
        checks = [(final, False)]
        if args.slim:
            named = [s for s in builder.stages if s.name == args.slim]
            if not named or named[0] is final:
                raise SystemExit(f"--slim {args.slim}: no such stage before the final one in the Dockerfile")
            checks.append((named[0], True))
        base = os.path.join(workdir, "base")
        subprocess.run([os.path.join(here, "debian_root.sh"), arch, base], check=True)
        base_bytes = du_bytes(base)
        image = os.path.join(args.context, "tests/data/cv-exports/iotedge-applebanana-tf/images/apple1.jpg")
        # The video-file source's input: 2 s of MJPEG made from the test image.
        video = os.path.join(workdir, "probe.avi")
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-framerate", "5", "-t", "2",
                        "-i", image, "-vf", "scale=320:240", "-c:v", "mjpeg", "-q:v", "3", video],
                       check=True, stdin=subprocess.DEVNULL)
        mib = 1 << 20
        for stage, slim in checks:
            final_bytes = du_bytes(stage.root)
            binary_bytes = check_libraries(stage, slim)
            model_bytes = du_bytes(stage.root + "/usr/share/edgevision/demo")
            # Under qemu the model takes seconds to load: up to 5 min.
            prediction, cam = run_image(stage, image, video, "error" if slim else "running",
                                        tries=120 if arch == "amd64" else 600)
            top = max(prediction["predictions"], key=lambda p: p["probability"])
            if top["tagName"] != "Apple":
                raise SystemExit(f"the image ({stage.name}) predicted {top} for apple1.jpg")
            last_error = cam.get("lastError") or ""
            if slim and ("libavformat59" not in last_error or "use the full image" not in last_error
                         or "apt install" in last_error):
                raise SystemExit(f"slim image: the source's error does not name libavformat59 and the full image: {cam}")
            if not slim and not cam["framesOut"] > 0:
                raise SystemExit(f"full image: the video-file source delivered no frame: {cam}")
            print(f"[ {stage.name} ] source cam: state {cam['state']}, framesOut {cam['framesOut']}, "
                  f"lastError {cam.get('lastError')!r}")
            print(f"[ figures ] {args.platform} {stage.name}: runtime root {final_bytes / mib:.1f} MiB "
                  f"(fresh slim-like root {base_bytes / mib:.1f} MiB, "
                  f"added {(final_bytes - base_bytes) / mib:.1f} MiB: binary {binary_bytes / mib:.1f} MiB, "
                  f"demo model {model_bytes / mib:.1f} MiB, libraries and the rest "
                  f"{(final_bytes - base_bytes - binary_bytes - model_bytes) / mib:.1f} MiB); "
                  f"top tag {top['tagName']} {top['probability']:.4f}; {time.monotonic() - started:.0f} s")
        return 0
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            log(f"stage roots kept in {workdir}")


if __name__ == "__main__":
    sys.exit(main())
