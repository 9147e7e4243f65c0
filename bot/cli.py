"""Command line: parse, build settings, call one service, print.

With --json, stdout carries exactly one JSON object; logs and progress go to stderr.
Exit status: 0 success, 2 bad usage or input, 1 failure. `serve` exits 0 once stopped by SIGTERM or Ctrl-C (also
when the grace period ran out: the lost replies are logged), and 128 + the signal's number (143, 130) when a
second signal ends it at once.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from bot.settings import Settings, SettingsError, load_settings

logger = logging.getLogger("bot")

OK, FAILURE, BAD_INPUT = 0, 1, 2
# settings whose values never appear in a log line, whoever logs them
SECRET_SETTINGS = ("slack_bot_token", "slack_signing_secret", "slack_app_token", "openai_api_key", "hubspot_token",
                   "salesforce_password", "salesforce_security_token", "salesforce_session_id")


class UsageError(Exception):
    """Bad input from the person at the keyboard: exit 2 with this message."""

    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.extra = extra


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="A Slack assistant for B2B revenue teams.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        return p

    p = command("ingest", "load CRM exports and sales content into the store (idempotent)")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: KNOWLEDGE_PATH)")
    p.add_argument("--rebuild", action="store_true", help="drop the store and embed everything again")

    p = command("sync", "pull what changed in the CRM since the last sync (HubSpot, Salesforce)")
    p.add_argument("system", nargs="?", choices=("hubspot", "salesforce"),
                   help="one CRM (default: every configured one)")
    p.add_argument("--full", action="store_true",
                   help="read everything again and remove what the CRM no longer has (the checkpoint is kept)")

    p = command("ask", "a grounded answer with citations")
    p.add_argument("question")
    p.add_argument("--account", help="the account the question is about")

    p = command("brief", "account brief: deals, activity, buying committee and gaps, next steps")
    p.add_argument("account")

    p = command("draft", "outreach draft to a senior stakeholder (sent to nobody: it is printed for you)")
    p.add_argument("account")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--contact", help="a contact's name at the account")
    who.add_argument("--persona", help="a role to write to, e.g. CFO or 'VP Operations'")

    p = command("campaign", "outbound sequence for marketers, aimed top-down at a senior persona")
    p.add_argument("--persona", required=True, help="the senior persona, e.g. CFO or 'VP Operations'")
    p.add_argument("--industry")
    p.add_argument("--theme")
    p.add_argument("--touches", type=int, default=4)
    p.add_argument("--out", type=Path, help="write the sequence as Markdown (.md) or CSV (.csv)")
    p.add_argument("--force", action="store_true", help="overwrite the --out file if it exists")

    p = command("triage", "lead verdicts: who to pursue, nurture, or not chase")
    p.add_argument("file", nargs="?", type=Path, help="a marketing-automation export (CSV or JSON)")
    p.add_argument("--account", help="triage an account's contacts and leads instead")

    p = command("digest", "each owner's digest of what changed on their accounts (sent as a Slack DM unless --dry-run)")
    p.add_argument("--user", metavar="EMAIL", help="only this owner (their email in the users/owners export)")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")

    command("serve", "run the Slack app (Socket Mode with SLACK_APP_TOKEN, else HTTP on PORT)")
    command("chat", "a local console over the same handlers (no Slack needed)")
    p = command("eval", "run the bundled evaluation sets")
    p.add_argument("--set", action="append", help="only this retrieval set (named in bot/evals/retrieval-sets.yaml); repeatable")
    command("run", "ingest what changed, then serve Slack (tokens set) or open the console")
    return parser


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None,
         services_factory: Callable[[Settings], Any] | None = None,
         stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    stdin = stdin or sys.stdin
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage
        return BAD_INPUT if exc.code else OK
    try:
        settings = settings or load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    from bot.observability import configure_logging

    configure_logging(level=settings.log_level, fmt=settings.log_format,
                      secrets=[getattr(settings, name, None) for name in SECRET_SETTINGS])
    for noisy in ("httpx", "chromadb", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))

    from bot.knowledge.store import StoreError
    from bot.profile import ProfileError
    from bot.prompts import PromptError
    from bot.runtime import build_services
    from bot.wording import WordingError

    try:
        services = (services_factory or build_services)(settings)
        handler = COMMANDS[args.command]
        return handler(args, services, stdin, stdout)
    except UsageError as exc:
        _fail(args, stdout, str(exc), **exc.extra)
        return BAD_INPUT
    except (ProfileError, WordingError, PromptError, SettingsError) as exc:  # a file or setting to fix: one line
        _fail(args, stdout, str(exc))
        return BAD_INPUT
    except StoreError as exc:
        _fail(args, stdout, str(exc))
        return FAILURE
    except KeyboardInterrupt:
        return FAILURE
    except Exception as exc:  # the edge: one line for the person, the trace for the log
        logger.exception("command %s failed", args.command)
        _fail(args, stdout, f"{args.command} failed: {exc}")
        return FAILURE


def _fail(args: argparse.Namespace, stdout: TextIO, message: str, **extra: Any) -> None:
    if getattr(args, "json", False):
        _emit(stdout, {"error": message, **extra})
    print(f"error: {message}", file=sys.stderr)


def _emit(stdout: TextIO, payload: dict[str, Any]) -> None:
    stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")
    stdout.flush()


# ---------------------------------------------------------------- commands

def cmd_ingest(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    report = run_ingest(services, args.paths, rebuild=args.rebuild, show_progress=not args.json)
    if args.json:
        _emit(stdout, report.as_dict())
    else:
        print(
            f"Ingested: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.removed} removed ({report.chunks} chunks embedded).", file=stdout,
        )
        if report.errors:
            print(f"{len(report.errors)} problem(s), the rest loaded:", file=stdout)
            for error in report.errors:
                print(f"  {error}", file=stdout)
    missing = any(e.error == "no such file or folder" for e in report.errors)
    return BAD_INPUT if missing else OK


def run_ingest(services: Any, paths: Sequence[Path], *, rebuild: bool = False, show_progress: bool = True):  # noqa: ANN201
    from bot.knowledge.ingest import ingest

    settings = services.settings
    if rebuild:
        services.store.reset()
    progress = _progress_bar if show_progress and sys.stderr.isatty() else None
    report = ingest(services.store, services.embeddings, list(paths) or [settings.knowledge_path],
                    root=settings.knowledge_path, progress=progress, profile=services.profile)
    services.retriever.written_here()
    return report


def _progress_bar(total: int, files: int) -> Callable[[int], None]:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="chunk", desc=f"Embedding {files} file(s)", file=sys.stderr, leave=False)

    def advance(count: int) -> None:
        bar.update(count)
        if bar.n >= total:
            bar.close()

    return advance


def cmd_sync(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.sync.feed import SyncReport
    from bot.sync.runner import NOT_CONFIGURED, SyncBusy, configured_systems, missing_settings, sync_now

    configured = configured_systems(services.settings)
    if args.system and args.system not in configured:
        raise UsageError(missing_settings(args.system))
    systems = [args.system] if args.system else configured
    if not systems:
        raise UsageError(NOT_CONFIGURED)
    reports = []
    for system in systems:
        try:
            reports.append(sync_now(services, system, full=args.full))
        except SyncBusy as exc:
            busy = SyncReport(system)
            busy.failure = str(exc)
            reports.append(busy)
    failed = [r for r in reports if r.failure]
    if args.json:
        payload = reports[0].as_dict() if len(reports) == 1 else _combined_sync(reports)
        if failed:
            payload["error"] = "; ".join(f"{r.source}: {r.failure}" for r in failed)
        _emit(stdout, payload)
    for report in reports:
        if not args.json:
            relinked = f" ({report.relinked} records re-linked)" if report.relinked else ""
            print(f"{report.source}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                  f"{report.removed} removed{relinked}.", file=stdout)
            if report.errors:
                print(f"{len(report.errors)} problem(s), the rest synced:", file=stdout)
                for error in report.errors:
                    where = f"{error['object']} {error['id']}" if error["id"] else error["object"]
                    print(f"  {where}: {error['error']}", file=stdout)
        if report.failure:
            print(f"error: {report.source} sync stopped: {report.failure}", file=sys.stderr)
    return FAILURE if failed else OK


def _combined_sync(reports: list[Any]) -> dict[str, Any]:
    """Several CRMs in one object: the contract's fields summed, each CRM's own report under "sources"."""
    return {
        "source": ",".join(r.source for r in reports),
        **{key: sum(getattr(r, key) for r in reports) for key in ("added", "updated", "unchanged", "removed")},
        "errors": [{**error, "source": r.source} for r in reports for error in r.errors],
        "checkpoint": {r.source: r.checkpoint for r in reports},
        "sources": [r.as_dict() for r in reports],
    }


def resolve_account_arg(services: Any, name: str | None):  # noqa: ANN201
    """The account a person named, or UsageError with the closest names / the candidates."""
    if not name:
        return None
    resolution = services.retriever.resolve_account(name)
    if resolution.account is None:
        raise UsageError(resolution.describe_miss(), candidates=[a.name for a in resolution.candidates],
                         ambiguous=resolution.ambiguous)
    return resolution.account


def cmd_ask(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.services.answering import Answer, answer_question

    if not args.question.strip():
        raise UsageError("ask needs a question, e.g. python -m bot ask \"what is the next step on the <account> deal?\"")

    if args.account:
        resolution = services.retriever.resolve_account(args.account)
        if resolution.account is None:
            miss = Answer(args.question, resolution.describe_miss(),
                          candidates=[a.name for a in resolution.candidates])
            _print_answer(args, stdout, miss)
            return BAD_INPUT
        answer = answer_question(args.question, retriever=services.retriever, account=resolution.account,
                                 model=services.model)
    else:
        answer = answer_question(args.question, retriever=services.retriever, model=services.model)
    _print_answer(args, stdout, answer)
    return OK


def _print_answer(args: argparse.Namespace, stdout: TextIO, answer: Any) -> None:
    from bot.console import render_answer

    _show(args, stdout, answer, render_answer)


def _show(args: argparse.Namespace, stdout: TextIO, result: Any, render: Callable[[Any], str]) -> int:
    """One JSON object with --json, else the console's rendering of the same result."""
    if args.json:
        _emit(stdout, result.as_dict())
    else:
        print(render(result), file=stdout)
    return OK


def cmd_brief(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.services.briefs import build_brief

    account = resolve_account_arg(services, args.account)
    brief = build_brief(services.retriever, account, services.context(), model=services.model)
    from bot.console import render_brief

    return _show(args, stdout, brief, render_brief)


def cmd_draft(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.services.drafts import draft_outreach

    account = resolve_account_arg(services, args.account)
    try:
        draft = draft_outreach(services.retriever, account, services.context(), contact=args.contact,
                               persona=args.persona,
                               model=services.model)
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    from bot.console import render_draft

    return _show(args, stdout, draft, render_draft)


def cmd_campaign(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.services.campaigns import build_campaign

    if not 1 <= args.touches <= 12:
        raise UsageError("--touches must be between 1 and 12")
    if args.out:  # checked before the work: a bad target never costs a campaign
        if args.out.suffix.lower() not in (".md", ".csv"):
            raise UsageError(f"--out {args.out}: the extension decides the format, .md or .csv")
        if args.out.is_dir():
            raise UsageError(f"--out {args.out} is a folder: give a file name ending in .md or .csv")
        if not args.out.parent.is_dir():
            raise UsageError(f"--out {args.out}: the folder {args.out.parent} does not exist")
        if args.out.exists() and not args.force:
            raise UsageError(f"--out {args.out} exists: add --force to overwrite it")
    campaign = build_campaign(services.retriever, services.context(), persona=args.persona, industry=args.industry, theme=args.theme,
                              touches=args.touches, model=services.model)
    if args.out:
        try:
            campaign.write(args.out)
        except OSError as exc:
            raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {len(campaign.touches)} touches to {args.out}", file=sys.stderr)
    if args.json:
        _emit(stdout, campaign.as_dict())
    elif not args.out:
        print(campaign.to_markdown(), file=stdout)
    return OK


def cmd_triage(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.services.triage import triage_account, triage_file

    if bool(args.file) == bool(args.account):
        raise UsageError("give either a leads file or --account NAME")
    if args.file:
        if not args.file.is_file():
            raise UsageError(f"{args.file}: no such file")
        result = triage_file(args.file, services.context(), retriever=services.retriever)
    else:
        account = resolve_account_arg(services, args.account)
        result = triage_account(services.retriever, account.id, account.name, services.context())
    from bot.console import render_triage

    return _show(args, stdout, result, render_triage)


def _exit_now(code: int) -> NoReturn:
    """End the process now with `code`, the log flushed. Work threads still running (not daemons) would otherwise
    hold it open into a container runtime's SIGKILL."""
    logging.shutdown()
    os._exit(code)


def _stop_on_signals(stopping: threading.Event) -> None:
    """SIGTERM (a container stopping; as PID 1 Python would ignore it) or Ctrl-C: stop gracefully. A second one
    exits at once, without waiting for the work in flight, with 128 + its number as a shell reports a process
    ended by that signal."""
    def stop(signum: int, frame: Any) -> None:
        if stopping.is_set():
            logger.warning("second %s: exiting now, work in flight abandoned", signal.Signals(signum).name)
            _exit_now(128 + signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def cmd_serve(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.app import create_app
    from bot.listeners.digest import start_digest_scheduler
    from bot.server import SHUTDOWN_GRACE, check_slack_settings, readiness, serve
    from bot.sync.runner import start_sync_scheduler

    try:
        check_slack_settings(services.settings)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    services.store.check_model()
    # the lexical index, accounts, content library and model load while Slack connects, not on the first question
    threading.Thread(target=services.retriever.warm, name="warm-up", daemon=True).start()
    stopping = threading.Event()
    _stop_on_signals(stopping)
    start_sync_scheduler(services, stopping)  # SYNC_INTERVAL > 0: CRM sync in the background, one replica at a time
    start_digest_scheduler(services, stopping)  # DIGEST_CRON digests and ALERT_CHANNEL alerts, stopping with serve
    try:
        finished = serve(create_app(services.settings, services=services), services.settings,
                         ready=lambda: readiness(services), stopping=stopping)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {services.settings.port} is already in use: stop the other server or set PORT") \
                from None
        raise
    if not finished:
        # stopped as asked and within the bound: 0, so a supervisor does not take an ordinary stop for a crash
        logger.warning("stopped after %.0f s with work still running: its replies are lost", SHUTDOWN_GRACE)
        _exit_now(OK)
    logger.info("stopped: the work in flight finished")
    return OK


def cmd_digest(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    """What each owner's digest holds; sent as a DM (once per owner and day) unless --dry-run or without Slack."""
    from bot.listeners.digest import (
        Sender,
        SlackPeople,
        compute_digests,
        deliver_digests,
        digest_period,
        proactive_client,
        switched_off,
    )
    from bot.listeners.guard import Guard
    from bot.services.digest import DigestState, load_snapshot

    settings = services.settings
    only = args.user.strip().lower() if args.user else None
    if args.user is not None and "@" not in (only or ""):
        raise UsageError("--user takes the owner's email, e.g. --user jane.doe@example.com")
    state = DigestState.for_services(services)
    sender = Sender(proactive_client(settings)) if settings.slack_enabled else None
    people = SlackPeople(sender, state) if sender is not None else None
    snapshot = load_snapshot(services.store)
    report = compute_digests(services, state, people=people, only=only, snapshot=snapshot)
    if only and not report.digests:
        import difflib

        # the owners with a digest, from the same read of the store (no Slack lookups for them)
        emails = sorted({d.owner.email.lower() for d in compute_digests(services, state, snapshot=snapshot).digests
                         if d.owner.email})
        close = difflib.get_close_matches(only, emails, n=3, cutoff=0.5)
        raise UsageError(f"no account owner with the email {args.user}"
                         + (f"; closest: {', '.join(close)}" if close else ""), candidates=close)
    off = switched_off(report, state) if people is not None else set()
    if off:
        print(f"{len(off)} owner(s) switched the digest off in App Home: not sent, not shown.", file=sys.stderr)
        report.digests = [d for d in report.digests if d.owner.key not in off]
    delivery = None
    if not args.dry_run:
        if sender is None or people is None:
            print("Slack is not configured (SLACK_BOT_TOKEN): nothing sent.", file=sys.stderr)
        else:
            delivery = deliver_digests(report, sender=sender, state=state, guard=Guard(settings), people=people,
                                       period=digest_period(), max_items=services.profile.digest.max_items)
    payload = report.as_dict()  # the contract's shape; what was sent is told beside it, on stderr under --json
    if args.json:
        if delivery is not None:
            _print_delivery(delivery.as_dict(), sys.stderr)
        _emit(stdout, payload)
        return OK
    _print_digests(payload, report, stdout)
    if delivery is not None:
        _print_delivery(delivery.as_dict(), stdout)
    return OK


def _print_digests(payload: dict[str, Any], report: Any, stdout: TextIO) -> None:
    print(f"Digests as of {payload['as_of']} ({len(payload['digests'])} owner(s) with something to say, computed in "
          f"{report.seconds:.1f} s):", file=stdout)
    for digest in payload["digests"]:
        owner = digest["owner"]
        slack = f" -> Slack {owner['slack_user']}" if owner["slack_user"] else ""
        print(f"\n{owner['name'] or owner['id']} <{owner['email'] or 'no email'}>{slack}: {len(digest['items'])} line(s)",
              file=stdout)
        for item in digest["items"]:
            print(f"  [{item['kind']}] {item['account']}: {item['text']}", file=stdout)
    if payload["unmatched_owners"]:
        print("\nUnmatched owners (no digest can reach them):", file=stdout)
        for owner in payload["unmatched_owners"]:
            print(f"  {owner['name'] or owner['id']} <{owner['email'] or 'no email'}>, {owner['accounts']} account(s): "
                  f"{owner['reason']}", file=stdout)
    if report.unowned_accounts:
        print(f"\n{len(report.unowned_accounts)} account(s) have no owner in the CRM: "
              + ", ".join(report.unowned_accounts[:10]) + ("…" if len(report.unowned_accounts) > 10 else ""),
              file=stdout)


def _print_delivery(delivery: dict[str, Any], out: TextIO) -> None:
    print(f"\nSent {len(delivery['sent'])} digest(s); {len(delivery['skipped'])} not sent:", file=out)
    for skipped in delivery["skipped"]:
        print(f"  {skipped['name']}: {skipped['reason']}", file=out)


def cmd_chat(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.console import run_console

    run_console(services, stdin=stdin, stdout=stdout)
    return OK


def cmd_eval(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.services.evaluation import (
        EVALS,
        evaluate_outreach,
        evaluate_sets,
        evaluate_triage,
        load_titles,
    )

    if services.store.count() == 0:
        run_ingest(services, [], show_progress=not args.json)
    store_root = services.settings.chroma_path.parent / "eval"
    figures: dict[str, Any] = {
        "retrieval": evaluate_sets(services.embeddings, store_root, names=args.set or None),
        "triage": evaluate_triage(load_titles(), services.context()),
    }
    holdout = EVALS / "titles_holdout.csv"
    if holdout.exists():  # authored apart from the rules and never tuned on
        figures["triage_holdout"] = evaluate_triage(load_titles(holdout), services.context())
    realworld = EVALS / "titles_realworld.csv"
    if realworld.exists():  # real-world titles labelled by hand before the rule changes, frozen
        figures["triage_realworld"] = evaluate_triage(load_titles(realworld), services.context())
    figures["outreach"] = evaluate_outreach(services.retriever, services.context())
    if args.json:
        _emit(stdout, figures)
        return OK
    for name, r in figures["retrieval"].items():
        _print_retrieval(name, r, stdout)
    names = {"triage": "Triage", "triage_holdout": "Triage, held-out set",
             "triage_realworld": "Triage, real-world titles (frozen)"}
    for name, label in names.items():
        if name not in figures:
            continue
        t = figures[name]
        print(f"{label} ({t['titles']} titles): "
              f"level accuracy {t['level_accuracy']:.3f}  function {t['function_accuracy']:.3f}  "
              f"unknown {t['unknown_share']:.1%} (labelled {t['labelled_unknown_share']:.1%})  "
              f"verdict {t['verdict_accuracy']:.3f}  not_worth_chasing precision "
              f"{t['not_worth_chasing_precision']:.3f} recall {t['not_worth_chasing_recall']:.3f}", file=stdout)
        for error in t["errors"][:15]:
            print(f"  {error['title']!r}: expected {error['expected']}, got {error['got']}", file=stdout)
    o = figures["outreach"]
    print(f"Outreach ({services.profile.seller or 'generic profile'}, {o['accounts']} accounts): drafts with a cited "
          f"proof point {o['drafts_with_cited_proof']:.0%}, triggers from the account's own history "
          f"{o['triggers_from_own_history']:.0%} of {o['drafts_with_trigger']}, drafts passing checks "
          f"{o['drafts_passing_checks']:.0%}; campaigns passing checks {o['campaigns_passing_checks']:.0%} "
          f"of {o['campaigns']}", file=stdout)
    for failure in o["draft_failures"] + o["campaign_failures"]:
        print(f"  {failure}", file=stdout)
    return OK


def _print_retrieval(name: str, r: dict[str, Any], stdout: TextIO) -> None:
    if "skipped" in r:
        print(f"Retrieval set {name}: skipped ({r['skipped']})", file=stdout)
        return
    a = r["answers"]
    print(f"Retrieval set {name} ({r['knowledge']}, {r['questions']} answerable questions): hit@1 {r['hit@1']:.3f}  "
          f"hit@5 {r['hit@5']:.3f}  MRR {r['mrr']:.3f}", file=stdout)
    if "non_english_hit@5" in r:
        print("  languages: hit@5 " + ", ".join(f"{k} {v:.3f}" for k, v in r["by_language"].items())
              + f"; non-English {r['non_english_hit@5']:.3f} vs their English twins {r['english_twins_hit@5']:.3f}",
              file=stdout)
    if "account_content_hit@5" in r:
        print(f"  questions naming an account that need content: hit@5 {r['account_content_hit@5']:.3f}", file=stdout)
    print(f"  answers: unanswerable said \"I don't know\" {a['unanswerable_said_dont_know']:.0%} of "
          f"{a['unanswerable']}; answerable answered {a['answerable_grounded']:.0%}; follow-ups right "
          f"{a['follow_up_accuracy']:.0%} of {a['follow_ups']}; answers keeping the must-say words "
          f"{a['answers_keep_must_say']:.0%}", file=stdout)
    print("  ablation:  " + "  |  ".join(f"{layer}: hit@1 {f['hit@1']:.3f} hit@5 {f['hit@5']:.3f} MRR {f['mrr']:.3f}"
                                         for layer, f in r["ablation"].items()), file=stdout)
    for miss in r["misses"]:
        print(f"  miss {miss['id']}: {miss['question']}  (gold {', '.join(miss['gold'])})", file=stdout)
    if a["answered_unanswerable"]:
        print(f"  answered although unanswerable: {', '.join(a['answered_unanswerable'])}", file=stdout)


def cmd_run(args: argparse.Namespace, services: Any, stdin: TextIO, stdout: TextIO) -> int:
    from bot.knowledge.store import EmbeddingMismatch

    try:
        services.store.check_model()
        rebuild = False
    except EmbeddingMismatch as exc:
        # `run` is the one command that must just work: a store from another embedding model is rebuilt
        print(f"{exc}: rebuilding it with {services.embeddings.name} (everything is embedded again).",
              file=sys.stderr)
        rebuild = True
    report = run_ingest(services, [], rebuild=rebuild, show_progress=True)
    print(f"Knowledge: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
          f"{report.removed} removed; {len(report.errors)} problem(s).", file=sys.stderr)
    for error in report.errors:
        print(f"  {error}", file=sys.stderr)
    if services.settings.slack_enabled:
        return cmd_serve(args, services, stdin, stdout)
    return cmd_chat(args, services, stdin, stdout)


COMMANDS: dict[str, Callable[[argparse.Namespace, Any, TextIO, TextIO], int]] = {
    "ingest": cmd_ingest,
    "sync": cmd_sync,
    "ask": cmd_ask,
    "brief": cmd_brief,
    "draft": cmd_draft,
    "campaign": cmd_campaign,
    "triage": cmd_triage,
    "serve": cmd_serve,
    "digest": cmd_digest,
    "chat": cmd_chat,
    "eval": cmd_eval,
    "run": cmd_run,
}
