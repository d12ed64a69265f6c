"""Runs MiniStack, the local AWS emulator, with the patches that let the project's rendered
definitions run on it unchanged.

MiniStack (PyPI ``ministack``, pinned in ``requirements.txt`` beside this file) emulates the AWS
APIs in one Python process. Version 1.5.33 lacks three things the ``import`` state machine uses,
enforces none of AWS's payload limits, and is more forgiving than AWS in ways that would let a
definition pass locally and fail on AWS. This launcher imports MiniStack, checks that every
internal function it hooks exists with the
signature it expects (and stops, naming the missing hook, when one does not), replaces those
functions, and then runs MiniStack's own server. Nothing of MiniStack's is copied or edited.

Patches
-------

1. **ItemBatcher** (Distributed Map). MiniStack ignores ``ItemBatcher`` and starts one child
   execution per item. The patch reads the items as MiniStack does (``ItemReader`` or
   ``ItemsPath``), applies ``ItemSelector`` to each item (``$$.Map.Item.Index`` is the item's
   index in the data set), groups the selected items into batches of at most
   ``MaxItemsPerBatch`` (or ``MaxItemsPerBatchPath``) items and ``MaxInputBytesPerBatch`` (or
   ``MaxInputBytesPerBatchPath``, default 256 KiB) bytes, and hands MiniStack one item per batch:
   ``{"Items": [...], "BatchInput": <BatchInput resolved against the Map's input>}``. The Map Run
   (patch 7) runs one child execution per batch and counts the items of a failed batch as failed
   items, in its tolerance and in its ``itemCounts``.

2. **ResultWriter** (Distributed Map). MiniStack ignores ``ResultWriter`` and returns the results
   inline. The patch writes ``SUCCEEDED_0.json`` and ``FAILED_0.json`` (only for a status that
   has executions) and ``manifest.json`` under ``<Prefix>/<map run id>/`` in the bucket, through
   MiniStack's S3 store, also when the Map Run fails its tolerance, and makes the Map's result
   ``{"MapRunArn": ..., "ResultWriterDetails": {"Bucket": ..., "Key": ".../manifest.json"}}``
   before ``ResultSelector``, ``ResultPath`` and ``OutputPath`` apply, as AWS does. A missing
   bucket fails the state with ``States.ResultWriterFailed``. ``WriterConfig`` is refused.

3. **ECS tasks as local processes.** Without Docker MiniStack leaves a task RUNNING forever, so
   ``ecs:runTask.sync`` times out. The patch never uses Docker for ECS: ``RunTask`` (the API and
   the Step Functions integration) runs the task definition's one essential container as a local
   process. The container's image is mapped to a local program through the JSON file named by
   ``USERLOG_ECS_IMAGES`` (written by the Rust tooling, see ``docs/local-emulator.md``):

       {"images": {"<image>": {"program": "/abs/path", "environment": {"NAME": "value"}}}}

   An image matches its entry exactly, or without its tag or digest. The process gets
   ``program`` followed by the container's ``command`` (or the override's), and the environment
   of this launcher (less the emulator's own settings), then the entry's ``environment`` (what
   the image would set), the container's ``environment``, its resolved ``secrets`` and the
   override's ``environment``, in that order, plus ``AWS_REGION``/``AWS_DEFAULT_REGION`` of the
   request. Its output goes to ``<USERLOG_ECS_TASK_LOGS>/<task id>.log``. When it exits the task
   becomes STOPPED with stop code ``EssentialContainerExited`` and the process's exit code
   (128 + N after signal N). An unmapped image or a program that cannot start stops the task with
   ``TaskFailedToStart``. ``StopTask`` also sends the process SIGTERM, and SIGKILL after the
   container's ``stopTimeout`` (30 s by default).

4. **``ecs:runTask`` integration output and failure.** MiniStack returns the camelCase RunTask
   response whatever the exit code. The patch returns what AWS returns: for ``.sync`` the stopped
   task as DescribeTasks describes it, in PascalCase (``$.TaskArn``, ``$.Containers[0].ExitCode``),
   and it fails the state with ``States.TaskFailed`` (Cause: that task as JSON) when a container
   exited non-zero or the task failed to start; without ``.sync`` the RunTask response in
   PascalCase. ``.sync`` also sets ``StartedBy: AWS Step Functions`` and waits by polling every
   50 ms instead of MiniStack's one second.
   A ``RunTask`` response with ``failures`` (and no task) fails a ``.sync`` state with
   ``AmazonECS.Unknown``, as AWS documents; MiniStack says ``ECS.Unknown``.

5. **Strict JSONPath.** MiniStack resolves a path that matches nothing to ``null``. The patch makes
   every path of a JSONPath state (``InputPath``, ``Parameters``/``ItemSelector``/``BatchInput``
   ``.$`` fields, intrinsic arguments, ``ResultSelector``, ``OutputPath``, ``ItemsPath``, Choice
   variables, ``ErrorPath``/``CausePath``, context paths ``$$.``) fail the state with
   ``States.Runtime`` when a field or an array index it names is missing, as AWS does. A path with
   a wildcard selects a (possibly empty) list. A Choice rule with ``IsPresent`` tests presence.

6. **Retry and Catch.** ``States.Runtime`` is never retried or caught (AWS: it always fails the
   execution); ``States.DataLimitExceeded`` is not matched by ``States.ALL`` or
   ``States.TaskFailed``, only by its own name. A retrier waits ``IntervalSeconds`` (default 1)
   times ``BackoffRate`` (default 2.0) to the power of its earlier retries, at most
   ``MaxDelaySeconds`` when set, and with ``JitterStrategy: FULL`` a uniformly random part of
   that; MiniStack ignores the jitter and caps every wait at 60 s. ``SFN_WAIT_SCALE`` (MiniStack's
   own setting, 1 by default) scales the waits, as it scales ``Wait`` states.

7. **Map Runs.** The Distributed Map's child executions are run by the launcher, not by MiniStack:
   each is an execution of its own, whose context object has its own ``$$.Execution`` (``Id``,
   ``Name``, ``StartTime``, ``Input``) and ``$$.StateMachine`` (``<machine>/<label>``), no
   ``$$.Map`` and no variables of the parent (MiniStack hands every child the parent's). The
   tolerance counts items (all the items of a failed batch): the Map Run fails with
   ``States.ExceedToleratedFailureThreshold`` when the failed items exceed
   ``ToleratedFailureCount`` or ``ToleratedFailurePercentage`` percent of all items (either, when
   both are set; any failure when neither is), and once it is exceeded no further child execution
   starts; those already running finish. ``...Path`` variants and ``MaxConcurrencyPath`` are
   resolved against the Map's input.

8. **Injected faults.** The JSON file named by ``USERLOG_FAULTS`` (written by the Rust tooling,
   ``userlog_local::ministack::faults``) lists failures of AWS's side that a local run never meets:

       {"faults": [
         {"id": "throttle", "lambda": "<function name>", "error": "Lambda.TooManyRequestsException",
          "cause": "Rate exceeded", "times": 2},
         {"id": "no-start", "ecsTaskDefinition": "<family>", "failToStart": "<stopped reason>"},
         {"id": "no-capacity", "ecsTaskDefinition": "<family>", "runTaskFailure": "RESOURCE:MEMORY"}
       ]}

   A ``lambda`` fault fails the Step Functions invocation of that function (by name, any
   qualifier) with ``error`` and ``cause`` instead of running it; ``failToStart`` stops the next
   task of that task definition family with ``TaskFailedToStart`` and that reason;
   ``runTaskFailure`` makes ``RunTask`` answer with that failure and no task. Each fault strikes
   ``times`` times (default 1), counted by ``id`` for the life of the emulator; the file is read at
   every call, so a running emulator needs no restart.

9. **The 256 KiB payload limit.** MiniStack passes state data of any size. The patch wraps the
   handler of every state type (Pass, Task, Choice, Wait, Parallel, Map) and fails the execution
   with ``States.DataLimitExceeded``, as AWS documents, when the state's output is larger than
   256 KiB as UTF-8 text. The check runs after the state's own Retry and Catch, so a Catch cannot
   handle it: on AWS this terminal error is not matched by ``States.ALL`` either (a Catch that
   names ``States.DataLimitExceeded`` explicitly is not honoured here).

10. **Consistent snapshots of MiniStack's stores.** MiniStack keeps executions and Map Runs in
   dicts that its request and execution threads change at any time; reading one while another
   thread adds to it can raise ``RuntimeError: dictionary changed size during iteration`` (seen as
   a ``States.Runtime`` failure of a Distributed Map under a burst of executions). The launcher
   reads them only through ``snapshot()``, which retries until it has a consistent copy.

11. **Reserved concurrency, throttles and idle instances.** MiniStack's CloudFormation ignores
   ``ReservedConcurrentExecutions`` of ``AWS::Lambda::Function``; the patch applies it on create
   and update as ``PutFunctionConcurrency`` would (removing it removes the limit), and makes the
   limit hold for every version and alias (MiniStack reads it from the invoked version's record,
   which has none), so MiniStack's own accounting throttles an invocation beyond it. Step Functions then sees the throttle as AWS
   reports it, ``Lambda.TooManyRequestsException`` (MiniStack says ``Lambda.Unknown``), so the
   state's ``Retry`` applies. Function instances (warm workers) idle for longer than
   ``USERLOG_LAMBDA_IDLE_SECONDS`` (60 by default) are ended, every one of them (MiniStack keeps
   the first of each function forever), so that what they hold, such as database connections, is
   released after a burst as AWS does when it reclaims idle environments.

Besides the patches, ``USERLOG_STOP_WITH_PID`` makes the emulator kill its process group (itself,
its Lambda workers and its ECS task processes) once that process has gone; tests tie the
emulator's lifetime to the test binary with it.

Usage: ``python launch.py`` runs the server (configured by MiniStack's environment variables:
``GATEWAY_PORT``, ``BIND_HOST``, ``MINISTACK_REGION``, ...); ``python launch.py --check`` only
checks the version and the hooks.
"""

import contextvars
import datetime
import importlib
import importlib.metadata
import inspect
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REQUIREMENTS_FILE = Path(__file__).with_name("requirements.txt")

# The environment variables that configure this launcher and MiniStack; an ECS task process does
# not inherit them.
EMULATOR_SETTINGS = {
    "BIND_HOST",
    "GATEWAY_PORT",
    "EDGE_PORT",
    "LOG_LEVEL",
    "SFN_WAIT_SCALE",
    "PERSIST_STATE",
    "STATE_DIR",
    "S3_PERSIST",
    "S3_DATA_DIR",
    "SERVICES",
    "LAMBDA_EXECUTOR",
    "LAMBDA_WARM_TTL_SECONDS",
}
EMULATOR_SETTING_PREFIXES = ("MINISTACK_", "USERLOG_")

# ECS defaults that a container definition may override.
DEFAULT_STOP_TIMEOUT_SECONDS = 30
# AWS's limit on the input of one child execution, the default of MaxInputBytesPerBatch.
DEFAULT_MAX_INPUT_BYTES_PER_BATCH = 256 * 1024
# AWS's quota on a state's input and output: 256 KiB of UTF-8 text.
MAX_STATE_PAYLOAD_BYTES = 256 * 1024
# The state handlers patch 9 wraps.
STATE_HANDLERS = ("_execute_pass", "_execute_task", "_execute_choice", "_execute_wait", "_execute_parallel",
                  "_execute_map")
# How often a `.sync` ECS task and the owner process are looked at.
TASK_POLL_SECONDS = 0.05
OWNER_POLL_SECONDS = 0.5
# How long a function instance may stay idle before it is ended, and how often that is looked at.
DEFAULT_LAMBDA_IDLE_SECONDS = 60
IDLE_REAP_POLL_SECONDS = 5
# How often a snapshot of a store that other threads change is attempted before giving up.
SNAPSHOT_ATTEMPTS = 100


class LauncherError(Exception):
    """The installed MiniStack is not the one this launcher was written for."""


# ---------------------------------------------------------------------------------------------
# Version and hook checks
# ---------------------------------------------------------------------------------------------


def pinned_version(package):
    """The version `requirements.txt` pins for `package`."""
    for line in REQUIREMENTS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise LauncherError(f"{REQUIREMENTS_FILE} does not pin {package}")


class Hook:
    """One attribute of a MiniStack module that the patches read or replace.

    `parameters` are the leading parameter names a function must take; `keys` are the entries a
    dict must hold.
    """

    def __init__(self, module, name, parameters=None, keys=()):
        self.module = module
        self.name = name
        self.parameters = parameters
        self.keys = keys

    def problem(self):
        """What is wrong with this hook in the installed MiniStack, or None."""
        try:
            module = importlib.import_module(self.module)
        except ImportError as error:
            return f"module {self.module} cannot be imported ({error})"
        if not hasattr(module, self.name):
            return f"{self.module}.{self.name} does not exist"
        value = getattr(module, self.name)
        if self.parameters is not None:
            if not callable(value):
                return f"{self.module}.{self.name} is not callable"
            actual = list(inspect.signature(value).parameters)
            expected = list(self.parameters)
            if actual[: len(expected)] != expected:
                return (
                    f"{self.module}.{self.name} takes ({', '.join(actual)}), "
                    f"expected ({', '.join(expected)})"
                )
        for key in self.keys:
            if key not in value:
                return f"{self.module}.{self.name} has no entry {key!r}"
        return None


SFN = "ministack.services.stepfunctions"
ECS = "ministack.services.ecs"
S3 = "ministack.services.s3"
LAMBDA = "ministack.services.lambda_svc"
LAMBDA_RUNTIME = "ministack.core.lambda_runtime"
CFN_PROVISIONERS = "ministack.services.cloudformation.provisioners"

HOOKS = [
    Hook("ministack.app", "main", ()),
    Hook(SFN, "_run_distributed_map",
         ("state_def", "raw_input", "effective", "iterator", "execution", "ctx")),
    Hook(SFN, "_read_map_items", ("reader", "effective", "ctx")),
    Hook(SFN, "_resolve_path_or_ctx", ("path", "data", "ctx")),
    Hook(SFN, "_resolve_params_obj", ("template", "data", "ctx")),
    Hook(SFN, "_state_query_language", ("state_def", "ctx")),
    Hook(SFN, "_apply_result_selector", ("state_def", "data")),
    Hook(SFN, "_apply_result_path", ("state_def", "original", "result")),
    Hook(SFN, "_apply_output_path", ("state_def", "data", "ctx")),
    Hook(SFN, "_next_or_end", ("state_def",)),
    Hook(SFN, "_pascal_to_camel", ("d",)),
    Hook(SFN, "_ExecutionError", ("error", "cause")),
    *(Hook(SFN, name, ("state_def", "raw_input")) for name in STATE_HANDLERS),
    Hook(SFN, "_map_runs"),
    Hook(SFN, "_executions"),
    Hook(SFN, "_SERVICE_DISPATCH", keys=("arn:aws:states:::ecs:runTask",)),
    Hook(SFN, "_resolve_path", ("path", "data")),
    Hook(SFN, "_parse_jsonpath_tokens", ("path",)),
    Hook(SFN, "_evaluate_rule", ("rule", "data", "ctx")),
    Hook(SFN, "_error_matches", ("error_equals", "error")),
    Hook(SFN, "_find_matching_retrier", ("retriers", "error", "retry_counts")),
    Hook(SFN, "_scaled_sleep", ("seconds",)),
    Hook(SFN, "_call_lambda", ("func_ref", "event")),
    Hook(SFN, "_run_sub_machine", ("states", "start_at", "input_data", "execution", "ctx")),
    Hook(S3, "_put_object", ("bucket_name", "key", "body", "headers")),
    Hook(ECS, "_get_docker", ()),
    Hook(ECS, "_run_task", ("data",)),
    Hook(ECS, "_stop_task", ("data",)),
    Hook(ECS, "_describe_tasks", ("data",)),
    Hook(ECS, "_ACTION_MAP", keys=("RunTask", "StopTask")),
    Hook(ECS, "_tasks"),
    Hook(ECS, "_task_defs"),
    Hook(ECS, "_resolve_td_key", ("ref",)),
    Hook(ECS, "_resolve_container_secrets", ("cdef",)),
    Hook(ECS, "_mark_task_stopped", ("task_arn", "task", "reason", "stop_code", "exit_code")),
    Hook(ECS, "request_scope", ("account_id", "region")),
    Hook(ECS, "get_account_id", ()),
    Hook(ECS, "get_region", ()),
    Hook(SFN, "_call_lambda", ("func_ref", "event")),
    Hook(LAMBDA, "_execute_function_with_config_scope", ("func", "event")),
    Hook(LAMBDA, "_functions"),
    Hook(LAMBDA, "_reserved_concurrency", ("func", "config")),
    Hook(LAMBDA_RUNTIME, "_workers"),
    Hook(LAMBDA_RUNTIME, "_lock"),
    Hook(LAMBDA_RUNTIME, "kill_workers", ("workers",)),
    Hook(CFN_PROVISIONERS, "_RESOURCE_HANDLERS", keys=("AWS::Lambda::Function",)),
]


def check_installation():
    """Fails, naming every problem, unless the pinned MiniStack with every hook is installed."""
    expected = pinned_version("ministack")
    try:
        installed = importlib.metadata.version("ministack")
    except importlib.metadata.PackageNotFoundError:
        raise LauncherError(
            f"ministack is not installed for {sys.executable}; "
            f"install ministack=={expected} (`cargo xtask local up` does)"
        ) from None
    if installed != expected:
        raise LauncherError(
            f"ministack {installed} is installed, but the launcher is written for ministack=={expected} "
            f"(pinned in {REQUIREMENTS_FILE.name}); `cargo xtask local up` installs the pinned version"
        )
    try:
        importlib.metadata.version("cbor2")
    except importlib.metadata.PackageNotFoundError:
        raise LauncherError(
            "cbor2 is not installed: MiniStack would read every CloudWatch request of the AWS SDK for "
            f"Rust (Smithy RPC v2 CBOR) as empty; install the pins of {REQUIREMENTS_FILE.name} "
            "(`cargo xtask local up` does)"
        ) from None
    # Importing MiniStack's modules to look at them logs their start-up notes (such as KMS's
    # about a missing optional package); the check's own output is only what it finds.
    logging.disable(logging.WARNING)
    try:
        problems = [problem for problem in (hook.problem() for hook in HOOKS) if problem]
    finally:
        logging.disable(logging.NOTSET)
    if problems:
        raise LauncherError(
            f"ministack {installed} lacks what the launcher patches (written for ministack=={expected}): "
            + "; ".join(problems)
        )
    return installed


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


def to_pascal_case(value):
    """Recursively capitalises every key, as Step Functions presents ECS responses."""
    if isinstance(value, dict):
        return {(key[:1].upper() + key[1:]): to_pascal_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_pascal_case(item) for item in value]
    return value


def make_batches(items, batch_input, max_items, max_bytes):
    """Groups items into `{"Items": [...], "BatchInput": ...}` inputs of at most `max_items` items
    (None: no limit) and `max_bytes` bytes of JSON each. Returns the batches, or raises ValueError
    naming an item that alone exceeds `max_bytes`."""
    envelope = {"Items": []}
    if batch_input is not None:
        envelope["BatchInput"] = batch_input
    base_size = len(json.dumps(envelope))
    batches, current, size = [], [], base_size
    for index, item in enumerate(items):
        encoded = len(json.dumps(item))
        if base_size + encoded > max_bytes:
            raise ValueError(f"item {index} alone is larger than MaxInputBytesPerBatch ({max_bytes} bytes)")
        # Items are separated by a comma inside the array.
        grown = size + encoded + (1 if current else 0)
        if current and ((max_items is not None and len(current) >= max_items) or grown > max_bytes):
            batches.append(current)
            current, size = [], base_size
            grown = size + encoded
        current.append(item)
        size = grown
    if current:
        batches.append(current)
    result = []
    for batch in batches:
        entry = {"Items": batch}
        if batch_input is not None:
            entry["BatchInput"] = batch_input
        result.append(entry)
    return result


def payload_size(value):
    """The size of state data as Step Functions measures it: its JSON as UTF-8 bytes."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def payload_limit_cause(state_name, output, limit=MAX_STATE_PAYLOAD_BYTES):
    """The cause of `States.DataLimitExceeded` when `output` is larger than `limit`, else None."""
    size = payload_size(output)
    if size <= limit:
        return None
    return (f"The state/task '{state_name}' returned a result with a size exceeding the maximum number of "
            f"bytes service limit ({size} bytes; the limit is {limit} bytes).")


def result_location(prefix, map_run_arn):
    """The key prefix AWS writes a Map Run's results under: `<Prefix>/<map run id>`."""
    run_id = map_run_arn.rsplit(":", 1)[-1]
    prefix = (prefix or "").rstrip("/")
    return f"{prefix}/{run_id}" if prefix else run_id


def result_record(child):
    """One child execution as AWS writes it in a result file."""
    record = {
        "ExecutionArn": child["executionArn"],
        "Input": child.get("input"),
        "InputDetails": {"Included": True},
        "Name": child["name"],
        "StartDate": child.get("startDate"),
        "StateMachineArn": child["stateMachineArn"],
        "Status": child["status"],
        "StopDate": child.get("stopDate"),
    }
    if child["status"] == "SUCCEEDED":
        record["Output"] = child.get("output")
        record["OutputDetails"] = {"Included": True}
    else:
        record["Error"] = child.get("error")
        record["Cause"] = child.get("cause")
    return record


def items_in(child_input):
    """How many items a child execution's input (a JSON text) holds: a batch's `Items`, else one."""
    value = json.loads(child_input) if child_input else None
    if isinstance(value, dict) and isinstance(value.get("Items"), list):
        return len(value["Items"])
    return 1


def snapshot(store, read=lambda store: list(store.values())):
    """`read(store)` (by default the store's values as a list), retried while other threads change
    the store under it: a dict that changes during a walk raises RuntimeError, and the next attempt
    sees it after the change. Raises RuntimeError if it never gets a consistent read."""
    for attempt in range(SNAPSHOT_ATTEMPTS):
        try:
            return read(store)
        except RuntimeError as error:
            # "dictionary changed size during iteration", "dictionary keys changed during
            # iteration", "... mutated during iteration": another thread changed the store.
            if "during iteration" not in str(error):
                raise
            time.sleep(0.001 * min(attempt + 1, 10))
    raise RuntimeError(f"no consistent snapshot after {SNAPSHOT_ATTEMPTS} attempts")


def split_idle(pools, now, idle_seconds):
    """Splits `{key: [worker, ...]}` into what stays and the workers idle for longer than
    `idle_seconds` (not in use, last used before `now - idle_seconds`), every one of them counted,
    the first of a function included. Returns `(kept pools without empty keys, ended workers)`."""
    kept, ended = {}, []
    for key, workers in pools.items():
        stay = []
        for worker in workers:
            idle = now - getattr(worker, "last_used", now)
            if getattr(worker, "in_use", False) or idle < idle_seconds:
                stay.append(worker)
            else:
                ended.append(worker)
        if stay:
            kept[key] = stay
    return kept, ended


def throttle_error(result):
    """The Step Functions error of a throttled invocation result, `(error, cause)`, or None when
    `result` is not a throttle. AWS names it `Lambda.TooManyRequestsException`; the cause is the
    Lambda service's error document as JSON."""
    if not isinstance(result, dict) or not result.get("throttle"):
        return None
    body = result.get("body") or {}
    return "Lambda.TooManyRequestsException", json.dumps(body, sort_keys=True)


def reserved_concurrency(props):
    """`ReservedConcurrentExecutions` of an `AWS::Lambda::Function`'s properties as an int, or None."""
    value = (props or {}).get("ReservedConcurrentExecutions")
    if value is None or value == "":
        return None
    value = int(value)
    if value < 0:
        raise ValueError(f"ReservedConcurrentExecutions {value} is negative")
    return value


def image_repository(image):
    """An image reference without its digest or tag: `host:port/repo:tag` -> `host:port/repo`."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def find_image(images, image):
    """The entry for `image`: exact first, then by repository (any tag or digest)."""
    if image in images:
        return images[image]
    return images.get(image_repository(image))


def exit_code_of(returncode):
    """An ECS exit code from a Popen return code (a signal N becomes 128 + N, as Docker reports)."""
    return 128 - returncode if returncode < 0 else returncode


def task_failed(task):
    """Whether a stopped task fails a `.sync` state: it did not start, or a container exited non-zero."""
    if task.get("stopCode") == "TaskFailedToStart":
        return True
    return any(container.get("exitCode") not in (None, 0) for container in task.get("containers", []))


def task_environment(base, image_environment, container_environment, secrets, override_environment, region):
    """The environment of a local ECS task process, later sources winning."""
    environment = {
        name: value
        for name, value in base.items()
        if name not in EMULATOR_SETTINGS and not name.startswith(EMULATOR_SETTING_PREFIXES)
    }
    environment.update(image_environment)
    environment.update({entry["name"]: entry["value"] for entry in container_environment})
    environment.update(secrets)
    environment.update({entry["name"]: entry["value"] for entry in override_environment})
    environment["AWS_REGION"] = region
    environment["AWS_DEFAULT_REGION"] = region
    return environment


# ---------------------------------------------------------------------------------------------
# Patches 1 and 2: ItemBatcher and ResultWriter
# ---------------------------------------------------------------------------------------------


class DistributedMapPatch:
    """Wraps `stepfunctions._run_distributed_map` (see the module docstring, patches 1 and 2)."""

    def __init__(self, sfn, s3):
        self.sfn = sfn
        self.s3 = s3
        self.original = sfn._run_distributed_map
        self.runner = MapRunner(sfn)

    def install(self):
        self.sfn._run_distributed_map = self.run

    def run(self, state_def, raw_input, effective, iterator, execution, ctx):
        batcher = state_def.get("ItemBatcher")
        writer = state_def.get("ResultWriter")
        jsonata = self.sfn._state_query_language(state_def, ctx) == "JSONata"
        if not batcher and not writer:
            if jsonata:
                return self.original(state_def, raw_input, effective, iterator, execution, ctx)
            return self.runner.run(state_def, raw_input, effective, iterator, execution, ctx)
        inner = dict(state_def)
        items_input = effective
        if batcher:
            items_input = self.batches(state_def, effective, ctx)
            for key in ("ItemReader", "ItemSelector", "Parameters", "ItemBatcher"):
                inner.pop(key, None)
            inner["ItemsPath"] = "$"
        if writer:
            if "WriterConfig" in writer:
                raise self.sfn._ExecutionError(
                    "States.Runtime", "ResultWriter.WriterConfig is not supported by the local emulator's launcher")
            for key in ("ResultWriter", "ResultSelector", "OutputPath"):
                inner.pop(key, None)
            inner["ResultPath"] = "$"

        runs_before = set(snapshot(self.sfn._map_runs, lambda store: list(store.keys())))
        failure = None
        try:
            if jsonata:
                output, next_state = self.original(inner, raw_input, items_input, iterator, execution, ctx)
            else:
                output, next_state = self.runner.run(
                    inner, raw_input, items_input, iterator, execution, ctx, batched=bool(batcher))
        except self.sfn._ExecutionError as error:
            failure = error
        run = self.new_run(runs_before, execution)
        children = self.children(run) if run else []
        summary = self.write_results(writer, run, children, effective, ctx) if writer and run else None
        if failure is not None:
            raise failure
        if not writer:
            return output, next_state
        result = self.sfn._apply_result_selector(state_def, summary)
        output = self.sfn._apply_result_path(state_def, raw_input, result)
        output = self.sfn._apply_output_path(state_def, output, ctx)
        return output, self.sfn._next_or_end(state_def)

    def batches(self, state_def, effective, ctx):
        sfn = self.sfn
        if sfn._state_query_language(state_def, ctx) == "JSONata":
            raise sfn._ExecutionError(
                "States.Runtime", "ItemBatcher in a JSONata state is not supported by the local emulator's launcher")
        if state_def.get("ItemReader"):
            items = sfn._read_map_items(state_def["ItemReader"], effective, ctx)
        else:
            items = sfn._resolve_path_or_ctx(state_def.get("ItemsPath", "$"), effective, ctx)
        if not isinstance(items, list):
            items = [items]
        selector = state_def.get("ItemSelector") or state_def.get("Parameters")
        if selector:
            selected = []
            for index, item in enumerate(items):
                item_ctx = dict(ctx)
                item_ctx["Map"] = {"Item": {"Index": index, "Value": item}}
                selected.append(sfn._resolve_params_obj(selector, effective, item_ctx))
            items = selected
        batcher = state_def["ItemBatcher"]
        max_items = batcher.get("MaxItemsPerBatch")
        if "MaxItemsPerBatchPath" in batcher:
            max_items = sfn._resolve_path_or_ctx(batcher["MaxItemsPerBatchPath"], effective, ctx)
        max_bytes = batcher.get("MaxInputBytesPerBatch")
        if "MaxInputBytesPerBatchPath" in batcher:
            max_bytes = sfn._resolve_path_or_ctx(batcher["MaxInputBytesPerBatchPath"], effective, ctx)
        batch_input = None
        if "BatchInput" in batcher:
            batch_input = sfn._resolve_params_obj(batcher["BatchInput"], effective, ctx)
        try:
            return make_batches(
                items,
                batch_input,
                int(max_items) if max_items else None,
                int(max_bytes) if max_bytes else DEFAULT_MAX_INPUT_BYTES_PER_BATCH,
            )
        except ValueError as error:
            raise sfn._ExecutionError("States.Runtime", str(error)) from None

    def new_run(self, runs_before, execution):
        """The Map Run the wrapped call created (a state may run several times in one execution)."""
        runs = [
            run for arn, run in snapshot(self.sfn._map_runs, lambda store: list(store.items()))
            if arn not in runs_before and run.get("executionArn") == execution["executionArn"]
        ]
        return runs[-1] if runs else None

    def children(self, run):
        return [child for child in snapshot(self.sfn._executions)
                if child.get("mapRunArn") == run["mapRunArn"]]

    def write_results(self, writer, run, children, effective, ctx):
        sfn = self.sfn
        parameters = sfn._resolve_params_obj(writer.get("Parameters") or writer.get("Arguments") or {}, effective, ctx)
        bucket = parameters.get("Bucket")
        if not bucket:
            raise sfn._ExecutionError("States.ResultWriterFailed", "ResultWriter.Parameters has no Bucket")
        base = result_location(parameters.get("Prefix"), run["mapRunArn"])
        files = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        written = 0
        for status in ("SUCCEEDED", "FAILED"):
            records = [result_record(child) for child in children if child["status"] == status]
            if not records:
                continue
            key = f"{base}/{status}_0.json"
            body = json.dumps(records).encode("utf-8")
            self.put(bucket, key, body)
            files[status].append({"Key": key, "Size": len(body)})
            written += sum(items_in(record["Input"]) for record in records)
        manifest_key = f"{base}/manifest.json"
        manifest = {"DestinationBucket": bucket, "MapRunArn": run["mapRunArn"], "ResultFiles": files}
        self.put(bucket, manifest_key, json.dumps(manifest).encode("utf-8"))
        run["itemCounts"]["resultsWritten"] = written
        return {"MapRunArn": run["mapRunArn"], "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}

    def put(self, bucket, key, body):
        status, _headers, response = self.s3._put_object(bucket, key, body, {"content-type": "application/json"})
        if status >= 400:
            detail = response.decode("utf-8", "replace") if isinstance(response, bytes) else str(response)
            raise self.sfn._ExecutionError(
                "States.ResultWriterFailed", f"could not write s3://{bucket}/{key}: {detail}")


# ---------------------------------------------------------------------------------------------
# Patches 3 and 4: ECS tasks as local processes, and the runTask integration
# ---------------------------------------------------------------------------------------------


class LocalTaskRunner:
    """Runs ECS tasks as local processes (see the module docstring, patch 3)."""

    def __init__(self, ecs, images_file, log_dir, faults):
        self.ecs = ecs
        self.faults = faults
        self.images_file = Path(images_file) if images_file else None
        self.log_dir = Path(log_dir) if log_dir else None
        self.original_run_task = ecs._run_task
        self.original_stop_task = ecs._stop_task
        self.processes = {}
        self.lock = threading.Lock()

    def install(self):
        self.ecs._get_docker = lambda: None
        self.ecs._run_task = self.run_task
        self.ecs._ACTION_MAP["RunTask"] = self.run_task
        self.ecs._stop_task = self.stop_task
        self.ecs._ACTION_MAP["StopTask"] = self.stop_task

    def images(self):
        """The image -> program entries, read at every RunTask so that new entries need no restart."""
        if self.images_file is None or not self.images_file.is_file():
            return {}
        return json.loads(self.images_file.read_text(encoding="utf-8")).get("images", {})

    def run_task(self, data):
        fault = self.faults.ecs_fault(data.get("taskDefinition"))
        if fault and fault.get("runTaskFailure"):
            failure = {"arn": data.get("taskDefinition", ""), "reason": fault["runTaskFailure"]}
            return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
                {"tasks": [], "failures": [failure]}).encode("utf-8")
        # CloudFormation passes a task definition's Cpu and Memory through as the template's
        # numbers; AWS coerces them to the strings the ECS API returns (the SDKs refuse numbers).
        definition = self.ecs._task_defs.get(self.ecs._resolve_td_key(data.get("taskDefinition", "")))
        for field in ("cpu", "memory"):
            if definition is not None and isinstance(definition.get(field), (int, float)):
                definition[field] = str(definition[field])
        response = self.original_run_task(data)
        status, _headers, body = response
        if status >= 400 or not body:
            return response
        scope = (self.ecs.get_account_id(), self.ecs.get_region())
        for task in json.loads(body).get("tasks", []):
            self.start(task["taskArn"], data, scope, fault)
        return response

    def start(self, task_arn, data, scope, fault=None):
        ecs = self.ecs
        task = ecs._tasks[task_arn]
        if fault and fault.get("failToStart"):
            return self.fail_to_start(task, fault["failToStart"])
        definition = ecs._task_defs[ecs._resolve_td_key(data.get("taskDefinition", ""))]
        essentials = [c for c in definition.get("containerDefinitions", []) if c.get("essential", True)]
        if len(essentials) != 1:
            return self.fail_to_start(task, "the local emulator runs tasks with exactly one essential container")
        container = essentials[0]
        if container.get("entryPoint"):
            return self.fail_to_start(task, "the local emulator does not run containers with an entryPoint")
        try:
            image = find_image(self.images(), container.get("image", ""))
        except (OSError, ValueError) as error:
            return self.fail_to_start(task, f"CannotPullContainerError: cannot read {self.images_file}: {error}")
        if image is None:
            return self.fail_to_start(
                task,
                f"CannotPullContainerError: the image {container.get('image')!r} has no local program in "
                f"{self.images_file}; the deploy tooling registers one (userlog_local::ministack::register_ecs_image)",
            )
        overrides = [o for o in (data.get("overrides") or {}).get("containerOverrides", [])
                     if o.get("name") == container["name"]]
        override = overrides[0] if overrides else {}
        try:
            secrets = ecs._resolve_container_secrets(container)
        except Exception as error:  # MiniStack raises its own error type for an unresolvable secret.
            return self.fail_to_start(task, f"ResourceInitializationError: {error}")
        argv = [image["program"], *(override.get("command") or container.get("command") or [])]
        environment = task_environment(
            dict(os.environ),
            image.get("environment", {}),
            container.get("environment", []),
            secrets,
            override.get("environment", []),
            scope[1],
        )
        task_id = task_arn.rsplit("/", 1)[-1]
        log_path = (self.log_dir or Path.cwd()) / f"{task_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")
        log.write(f"# task {task_arn}\n# image {container.get('image')}\n# argv {json.dumps(argv)}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                argv,
                env=environment,
                cwd=log_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as error:
            log.close()
            return self.fail_to_start(task, f"CannotStartContainerError: {argv[0]}: {error}")
        stop_timeout = int(container.get("stopTimeout") or DEFAULT_STOP_TIMEOUT_SECONDS)
        with self.lock:
            self.processes[task_arn] = (process, stop_timeout)
        threading.Thread(
            target=self.wait, args=(task_arn, task, process, log, scope), daemon=True,
            name=f"local-ecs-task-{task_id[:8]}").start()

    def wait(self, task_arn, task, process, log, scope):
        exit_code = exit_code_of(process.wait())
        log.write(f"# exited with code {exit_code}\n".encode())
        log.close()
        with self.lock:
            self.processes.pop(task_arn, None)
        with self.ecs.request_scope(*scope):
            self.ecs._mark_task_stopped(
                task_arn, task, "Essential container in task exited", "EssentialContainerExited", exit_code=exit_code)

    def fail_to_start(self, task, reason):
        self.ecs._mark_task_stopped(task["taskArn"], task, reason, "TaskFailedToStart", exit_code=None)

    def stop_task(self, data):
        response = self.original_stop_task(data)
        status, _headers, body = response
        if status < 400 and body:
            task_arn = json.loads(body).get("task", {}).get("taskArn")
            with self.lock:
                entry = self.processes.get(task_arn)
            if entry:
                process, stop_timeout = entry
                process.terminate()
                timer = threading.Timer(stop_timeout, lambda: process.poll() is None and process.kill())
                timer.daemon = True
                timer.start()
        return response


class RunTaskIntegration:
    """`arn:aws:states:::ecs:runTask[.sync]` as AWS behaves (see the module docstring, patch 4)."""

    def __init__(self, sfn, ecs):
        self.sfn = sfn
        self.ecs = ecs

    def install(self):
        self.sfn._SERVICE_DISPATCH["arn:aws:states:::ecs:runTask"] = self.invoke

    def invoke(self, resource, parameters):
        sfn = self.sfn
        request = sfn._pascal_to_camel(parameters)
        sync = resource.rstrip("/").endswith(".sync")
        if sync:
            request.setdefault("startedBy", "AWS Step Functions")
        status, _headers, body = self.ecs._run_task(request)
        response = json.loads(body) if body else {}
        if status >= 400:
            error = str(response.get("__type", "AmazonECSException")).rsplit("#", 1)[-1]
            raise sfn._ExecutionError(f"ECS.{error}", response.get("message", json.dumps(response)))
        if not sync:
            return to_pascal_case(response)
        if response.get("failures") or not response.get("tasks"):
            raise sfn._ExecutionError("AmazonECS.Unknown", json.dumps(to_pascal_case(response)))
        task = self.wait_until_stopped(request.get("cluster", "default"), response["tasks"][0]["taskArn"])
        output = to_pascal_case(task)
        if task_failed(task):
            raise sfn._ExecutionError("States.TaskFailed", json.dumps(output))
        return output

    def wait_until_stopped(self, cluster, task_arn):
        while True:
            _status, _headers, body = self.ecs._describe_tasks({"cluster": cluster, "tasks": [task_arn]})
            tasks = json.loads(body).get("tasks", []) if body else []
            if tasks and tasks[0].get("lastStatus") == "STOPPED":
                return tasks[0]
            time.sleep(TASK_POLL_SECONDS)


# ---------------------------------------------------------------------------------------------
# Patch 5: a JSONPath that matches nothing fails with States.Runtime
# ---------------------------------------------------------------------------------------------


class PathNotFound(Exception):
    """A reference path selects nothing in its data."""


def select_path(tokens, data):
    """The value `tokens` (MiniStack's parse of a JSONPath) select in `data`: a list for a path with
    a wildcard (possibly empty), else the one value. Raises PathNotFound when a field or index of a
    path without wildcard is missing."""
    projected = any(kind == "wildcard" for kind, _ in tokens)
    values = [data]
    for kind, value in tokens:
        selected = []
        for current in values:
            if kind == "field" and isinstance(current, dict) and value in current:
                selected.append(current[value])
            elif kind == "index" and isinstance(current, list) and value < len(current):
                selected.append(current[value])
            elif kind == "wildcard" and isinstance(current, list):
                selected.extend(current)
            elif kind == "wildcard" and isinstance(current, dict):
                selected.extend(current.values())
            elif not projected:
                raise PathNotFound(value)
        values = selected
    return values if projected else values[0]


class StrictPaths:
    """Makes every JSONPath of a JSONPath state fail with `States.Runtime` when it selects nothing,
    as AWS does (see the module docstring, patch 5). A Choice rule with `IsPresent` still tests
    presence without failing."""

    def __init__(self, sfn):
        self.sfn = sfn
        self.original_rule = sfn._evaluate_rule

    def install(self):
        self.sfn._resolve_path = self.resolve
        self.sfn._evaluate_rule = self.evaluate_rule

    def resolve(self, path, data):
        if path == "$" or not path or not path.startswith("$"):
            return data
        tokens = self.sfn._parse_jsonpath_tokens(path)
        if tokens is None:
            raise self.sfn._ExecutionError("States.Runtime", f"Invalid path '{path}': not a valid JSONPath")
        try:
            return select_path(tokens, data)
        except PathNotFound:
            raise self.sfn._ExecutionError(
                "States.Runtime",
                f"Invalid path '{path}': the path could not be found in the input {json.dumps(data)[:1000]}",
            ) from None

    def evaluate_rule(self, rule, data, ctx=None):
        if "IsPresent" in rule and rule.get("Variable"):
            try:
                self.sfn._resolve_path_or_ctx(rule["Variable"], data, ctx)
                present = True
            except self.sfn._ExecutionError:
                present = False
            return present == rule["IsPresent"]
        return self.original_rule(rule, data, ctx)


# ---------------------------------------------------------------------------------------------
# Patch 6: which errors Retry and Catch match, and how long a retrier waits
# ---------------------------------------------------------------------------------------------

# Never retried or caught: the execution fails.
UNCATCHABLE_ERRORS = {"States.Runtime"}
# Not matched by the wildcards `States.ALL` and `States.TaskFailed`, only by their own name.
NOT_MATCHED_BY_WILDCARDS = {"States.DataLimitExceeded"}


def error_matches(error_equals, error):
    """Whether a retrier's or catcher's `ErrorEquals` matches `error`, as AWS documents it."""
    if error in UNCATCHABLE_ERRORS:
        return False
    if error in error_equals:
        return True
    if error in NOT_MATCHED_BY_WILDCARDS:
        return False
    if "States.ALL" in error_equals:
        return True
    return "States.TaskFailed" in error_equals and error != "States.Timeout"


def retry_delay(retrier, retries_before, random_fraction):
    """Seconds before the retry that follows `retries_before` earlier retries of this retrier:
    `IntervalSeconds` (default 1) times `BackoffRate` (default 2.0) to the power of
    `retries_before`, at most `MaxDelaySeconds` when set; with `JitterStrategy: FULL` that delay
    times `random_fraction` (uniform in [0, 1))."""
    delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** retries_before
    if retrier.get("MaxDelaySeconds") is not None:
        delay = min(delay, float(retrier["MaxDelaySeconds"]))
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        delay *= random_fraction
    return delay


class ErrorHandling:
    """Retry and Catch as AWS documents them (see the module docstring, patch 6)."""

    def __init__(self, sfn, random_fraction=random.random):
        self.sfn = sfn
        self.original_find = sfn._find_matching_retrier
        self.random_fraction = random_fraction

    def install(self):
        self.sfn._error_matches = error_matches
        self.sfn._find_matching_retrier = self.find_retrier

    def find_retrier(self, retriers, error, retry_counts):
        retrier, index = self.original_find(retriers, error, retry_counts)
        if retrier is None:
            return retrier, index
        # The wait happens here; MiniStack's own (capped at 60 s, no jitter) is made zero.
        self.sfn._scaled_sleep(retry_delay(retrier, retry_counts.get(index, 0), self.random_fraction()))
        return dict(retrier, IntervalSeconds=0), index


# ---------------------------------------------------------------------------------------------
# Patch 7: the Map Run of a Distributed Map
# ---------------------------------------------------------------------------------------------


def tolerance_exceeded(failed_items, total_items, tolerated_count, tolerated_percentage):
    """Whether a Map Run with `failed_items` of `total_items` failed has exceeded its tolerance.
    Either limit may be None (not set); with neither set, one failed item is too many."""
    if tolerated_count is None and tolerated_percentage is None:
        return failed_items > 0
    if tolerated_count is not None and failed_items > tolerated_count:
        return True
    return tolerated_percentage is not None and failed_items * 100 > tolerated_percentage * total_items


def child_context(parent_ctx, child, state_machine_name):
    """The context object of a child execution: its own `Execution` and `StateMachine`, no
    `Map` (the item is only in the Map state's ItemSelector) and no variables of the parent."""
    ctx = {key: value for key, value in parent_ctx.items() if key not in ("Map", "Task", "State", "variables")}
    ctx["Execution"] = {
        "Id": child["executionArn"],
        "Input": json.loads(child["input"]),
        "Name": child["name"],
        "StartTime": child["startDate"],
    }
    ctx["StateMachine"] = {"Id": child["stateMachineArn"], "Name": state_machine_name}
    ctx["variables"] = {}
    return ctx


class MapRunner:
    """Runs the child executions of a Distributed Map (see the module docstring, patch 7)."""

    def __init__(self, sfn):
        self.sfn = sfn

    def setting(self, state_def, name, effective, ctx, kind):
        if f"{name}Path" in state_def:
            return kind(self.sfn._resolve_path_or_ctx(state_def[f"{name}Path"], effective, ctx))
        return kind(state_def[name]) if name in state_def else None

    def items(self, state_def, effective, ctx):
        sfn = self.sfn
        if state_def.get("ItemReader"):
            items = sfn._read_map_items(state_def["ItemReader"], effective, ctx)
        else:
            items = sfn._resolve_path_or_ctx(state_def.get("ItemsPath", "$"), effective, ctx)
        items = items if isinstance(items, list) else [items]
        selector = state_def.get("ItemSelector") or state_def.get("Parameters")
        if not selector:
            return items
        selected = []
        for index, item in enumerate(items):
            item_ctx = dict(ctx, Map={"Item": {"Index": index, "Value": item}})
            selected.append(sfn._resolve_params_obj(selector, effective, item_ctx))
        return selected

    def run(self, state_def, raw_input, effective, iterator, execution, ctx, batched=False):
        sfn = self.sfn
        inputs = self.items(state_def, effective, ctx)
        sizes = [items_in(json.dumps(child_input)) if batched else 1 for child_input in inputs]
        total = sum(sizes)
        tolerated_count = self.setting(state_def, "ToleratedFailureCount", effective, ctx, int)
        tolerated_percentage = self.setting(state_def, "ToleratedFailurePercentage", effective, ctx, float)
        concurrency = self.setting(state_def, "MaxConcurrency", effective, ctx, int) or 0

        parts = execution["stateMachineArn"].split(":")
        machine, region, account = parts[6].split("/", 1)[0], parts[3], parts[4]
        label = state_def.get("Label") or new_id()
        child_machine = f"{machine}/{label}"
        child_machine_arn = f"arn:aws:states:{region}:{account}:stateMachine:{child_machine}"
        map_run_arn = f"arn:aws:states:{region}:{account}:mapRun:{child_machine}:{new_id()}"
        zero = dict.fromkeys(("pending", "running", "succeeded", "failed", "timedOut", "aborted", "total",
                              "resultsWritten", "failuresNotRedrivable", "pendingRedrive"), 0)
        run = {
            "mapRunArn": map_run_arn, "executionArn": execution["executionArn"], "status": "RUNNING",
            "startDate": now(), "maxConcurrency": concurrency,
            "toleratedFailurePercentage": tolerated_percentage or 0.0,
            "toleratedFailureCount": tolerated_count or 0,
            "itemCounts": dict(zero, total=total, pending=total),
            "executionCounts": dict(zero, total=len(inputs), pending=len(inputs)),
            "redriveCount": 0, "_stateMachineArn": child_machine_arn,
        }
        sfn._map_runs[map_run_arn] = run
        results = [None] * len(inputs)
        lock = threading.Lock()
        failed_items = [0]
        stopped = threading.Event()

        def count(index, before, after):
            for counts, amount in ((run["itemCounts"], sizes[index]), (run["executionCounts"], 1)):
                counts[before] -= amount
                counts[after] += amount

        def run_child(index, child_input):
            if stopped.is_set():
                return
            name = new_id()
            child = {
                "executionArn": f"arn:aws:states:{region}:{account}:execution:{child_machine}:{name}",
                "stateMachineArn": child_machine_arn, "name": name, "status": "RUNNING", "startDate": now(),
                "stopDate": None, "input": json.dumps(child_input), "inputDetails": {"included": True},
                "output": None, "outputDetails": {"included": True}, "mapRunArn": map_run_arn, "events": [],
                "testCase": execution.get("testCase"), "mockAttempts": {},
            }
            with lock:
                sfn._executions[child["executionArn"]] = child
                count(index, "pending", "running")
            try:
                results[index] = sfn._run_sub_machine(
                    iterator.get("States", {}), iterator.get("StartAt"), child_input, child,
                    child_context(ctx, child, child_machine))
                child.update(status="SUCCEEDED", output=json.dumps(results[index]))
            except Exception as error:  # a child's failure of any kind fails only that child
                if not isinstance(error, sfn._ExecutionError):
                    error = sfn._ExecutionError("States.TaskFailed", str(error))
                child.update(status="FAILED", error=error.error, cause=error.cause)
            child["stopDate"] = now()
            with lock:
                count(index, "running", "succeeded" if child["status"] == "SUCCEEDED" else "failed")
                if child["status"] != "SUCCEEDED":
                    failed_items[0] += sizes[index]
                    if tolerance_exceeded(failed_items[0], total, tolerated_count, tolerated_percentage):
                        stopped.set()

        workers = concurrency if concurrency > 0 else (min(len(inputs), 64) or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(contextvars.copy_context().run, run_child, index, child_input)
                       for index, child_input in enumerate(inputs)]
            for future in futures:
                future.result()

        run["stopDate"] = now()
        if tolerance_exceeded(failed_items[0], total, tolerated_count, tolerated_percentage):
            run["status"] = "FAILED"
            raise sfn._ExecutionError("States.ExceedToleratedFailureThreshold",
                                      "The specified tolerated failure threshold was exceeded")
        run["status"] = "SUCCEEDED"
        result = sfn._apply_result_selector(state_def, results)
        output = sfn._apply_result_path(state_def, raw_input, result)
        output = sfn._apply_output_path(state_def, output, ctx)
        return output, sfn._next_or_end(state_def)


def new_id():
    return str(uuid.uuid4())


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


# ---------------------------------------------------------------------------------------------
# Patch 8: failures injected from a file
# ---------------------------------------------------------------------------------------------


def lambda_function_name(reference):
    """The function name of a Lambda reference: a name, `name:qualifier` or an ARN."""
    if reference.startswith("arn:"):
        return reference.split(":")[6]
    return reference.split(":", 1)[0]


def task_definition_family(reference):
    """The family of a task definition reference: `family`, `family:3` or an ARN."""
    return reference.rsplit("/", 1)[-1].split(":", 1)[0]


class Faults:
    """Failures of AWS's side that a run never meets locally, injected from the JSON file named by
    `USERLOG_FAULTS` (see the module docstring, patch 8). The file is read at every call; how often
    each fault has struck is kept here, by its `id`."""

    def __init__(self, sfn, path):
        self.sfn = sfn
        self.path = Path(path) if path else None
        self.original_call_lambda = sfn._call_lambda
        self.struck = {}
        self.lock = threading.Lock()

    def install(self):
        self.sfn._call_lambda = self.call_lambda

    def strike(self, key, value):
        """The first fault for `key` == `value` that has struck fewer than its `times`, counted as
        striking now; or None."""
        if self.path is None or not self.path.is_file():
            return None
        faults = json.loads(self.path.read_text(encoding="utf-8")).get("faults", [])
        with self.lock:
            for fault in faults:
                if fault.get(key) != value:
                    continue
                if self.struck.get(fault["id"], 0) < int(fault.get("times", 1)):
                    self.struck[fault["id"]] = self.struck.get(fault["id"], 0) + 1
                    return fault
        return None

    def call_lambda(self, func_ref, event):
        fault = self.strike("lambda", lambda_function_name(str(func_ref)))
        if fault:
            raise self.sfn._ExecutionError(fault["error"], fault.get("cause", f"{fault['error']} (injected)"))
        return self.original_call_lambda(func_ref, event)

    def ecs_fault(self, task_definition):
        return self.strike("ecsTaskDefinition", task_definition_family(task_definition or ""))
# Patch 11: reserved concurrency, throttles as Step Functions reports them, idle instances
# ---------------------------------------------------------------------------------------------


class ReservedConcurrency:
    """Applies `ReservedConcurrentExecutions` of CloudFormation's `AWS::Lambda::Function`."""

    def __init__(self, provisioners, lambda_svc):
        self.handlers = provisioners._RESOURCE_HANDLERS["AWS::Lambda::Function"]
        self.lambda_svc = lambda_svc

    def install(self):
        create, update = self.handlers["create"], self.handlers["update"]

        def created(logical_id, props, stack_name):
            name, attributes = create(logical_id, props, stack_name)
            self.apply(name, props)
            return name, attributes

        def updated(physical_id, old_props, new_props, stack_name, *rest):
            name, attributes = update(physical_id, old_props, new_props, stack_name, *rest)
            self.apply(name, new_props)
            return name, attributes

        self.handlers["create"] = created
        self.handlers["update"] = updated
        # MiniStack looks for the limit on the record it invokes, which for an alias or a version
        # is the version's, without it; on AWS it is the function's, for every version and alias.
        reserved = self.lambda_svc._reserved_concurrency

        def of_the_function(func, config):
            value = reserved(func, config)
            if value is None:
                function = self.lambda_svc._functions.get((config or {}).get("FunctionName"))
                if function is not None and function is not func:
                    value = reserved(function, function.get("config") or {})
            return value

        self.lambda_svc._reserved_concurrency = of_the_function

    def apply(self, name, props):
        function = self.lambda_svc._functions.get(name)
        if function is not None:
            function["concurrency"] = reserved_concurrency(props)


class ThrottledInvocations:
    """Makes a throttled Lambda task fail with `Lambda.TooManyRequestsException`, as on AWS."""

    def __init__(self, sfn, lambda_svc):
        self.sfn = sfn
        self.lambda_svc = lambda_svc
        self.last = threading.local()

    def install(self):
        execute = self.lambda_svc._execute_function_with_config_scope
        call = self.sfn._call_lambda

        def recorded(func, event):
            result = execute(func, event)
            self.last.result = result
            return result

        def call_lambda(func_ref, event):
            self.last.result = None
            try:
                return call(func_ref, event)
            except self.sfn._ExecutionError:
                throttled = throttle_error(getattr(self.last, "result", None))
                if throttled is None:
                    raise
                raise self.sfn._ExecutionError(*throttled) from None

        self.lambda_svc._execute_function_with_config_scope = recorded
        self.sfn._call_lambda = call_lambda


class IdleInstanceReaper:
    """Ends function instances idle for longer than `idle_seconds`, every one of them."""

    def __init__(self, runtime, idle_seconds):
        self.runtime = runtime
        self.idle_seconds = idle_seconds

    def install(self):
        threading.Thread(target=self.loop, daemon=True, name="idle-instance-reaper").start()

    def loop(self):
        while True:
            time.sleep(min(IDLE_REAP_POLL_SECONDS, self.idle_seconds))
            try:
                self.reap(time.time())
            except Exception as error:  # A failed pass must not end the reaper; the next one retries.
                print(f"launch.py: reaping idle function instances failed: {error}", file=sys.stderr, flush=True)

    def reap(self, now):
        runtime = self.runtime
        with runtime._lock:
            kept, ended = split_idle(runtime._workers, now, self.idle_seconds)
            runtime._workers.clear()
            runtime._workers.update(kept)
        if ended:
            runtime.kill_workers(ended)
        return len(ended)


def lambda_idle_seconds(environ):
    """`USERLOG_LAMBDA_IDLE_SECONDS` (a positive number), or the default."""
    raw = environ.get("USERLOG_LAMBDA_IDLE_SECONDS", "").strip()
    if not raw:
        return DEFAULT_LAMBDA_IDLE_SECONDS
    value = float(raw)
    if value <= 0:
        raise ValueError(f"USERLOG_LAMBDA_IDLE_SECONDS must be positive, not {raw!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Start-up
# ---------------------------------------------------------------------------------------------


class PayloadLimitPatch:
    """Fails an execution whose state output is over the limit (see the module docstring, patch 9)."""

    def __init__(self, sfn):
        self.sfn = sfn

    def install(self):
        for name in STATE_HANDLERS:
            setattr(self.sfn, name, self.wrap(getattr(self.sfn, name)))

    def wrap(self, handler):
        sfn = self.sfn

        def checked(state_def, raw_input, *rest):
            ctx = rest[-1] if rest else None
            state = (ctx or {}).get("State") or {}
            name = state.get("Name", state_def.get("Type", "state"))
            output, next_state = handler(state_def, raw_input, *rest)
            cause = payload_limit_cause(name, output)
            if cause is not None:
                raise sfn._ExecutionError("States.DataLimitExceeded", cause)
            return output, next_state

        return checked


def stop_with(owner_pid):
    """Kills this process group (the emulator and everything it started) once `owner_pid` is gone."""

    def watch():
        while True:
            time.sleep(OWNER_POLL_SECONDS)
            try:
                os.kill(owner_pid, 0)
            except ProcessLookupError:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            except PermissionError:
                pass

    threading.Thread(target=watch, daemon=True, name="stop-with-owner").start()


def install_patches():
    sfn = importlib.import_module(SFN)
    ecs = importlib.import_module(ECS)
    s3 = importlib.import_module(S3)
    faults = Faults(sfn, os.environ.get("USERLOG_FAULTS"))
    faults.install()
    StrictPaths(sfn).install()
    ErrorHandling(sfn).install()
    DistributedMapPatch(sfn, s3).install()
    LocalTaskRunner(
        ecs, os.environ.get("USERLOG_ECS_IMAGES"), os.environ.get("USERLOG_ECS_TASK_LOGS"), faults).install()
    RunTaskIntegration(sfn, ecs).install()
    PayloadLimitPatch(sfn).install()
    lambda_svc = importlib.import_module(LAMBDA)
    ReservedConcurrency(importlib.import_module(CFN_PROVISIONERS), lambda_svc).install()
    ThrottledInvocations(sfn, lambda_svc).install()
    IdleInstanceReaper(importlib.import_module(LAMBDA_RUNTIME), lambda_idle_seconds(os.environ)).install()


def main(argv):
    try:
        version = check_installation()
    except LauncherError as error:
        print(f"launch.py: {error}", file=sys.stderr)
        return 2
    if argv[1:] == ["--check"]:
        print(f"ministack {version}: all {len(HOOKS)} hooks present")
        return 0
    if argv[1:]:
        print(f"launch.py: unknown arguments {argv[1:]}; usage: launch.py [--check]", file=sys.stderr)
        return 2
    install_patches()
    owner = os.environ.get("USERLOG_STOP_WITH_PID")
    if owner:
        stop_with(int(owner))
    print(f"launch.py: ministack {version} patched (ItemBatcher, ResultWriter, ECS tasks as local processes, "
          "strict paths, Retry and Catch, Map Runs, injected faults, the 256 KiB payload limit)",
          "reserved concurrency, throttles, idle instances)",
          flush=True)
    # MiniStack's main() parses sys.argv itself.
    sys.argv = argv[:1]
    importlib.import_module("ministack.app").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
