"""Drives one of the tests' SaaS fakes with the vendor's own client library.

Our fakes of Jira and Slack follow the vendors' published
contracts; a client the vendor (or its community) maintains parses the
fakes' answers with its own expectations, which catches drift our own
reading of the documents cannot. Run by host/tests/connectors/vendor_clients.rs
with the tools venv's python (scripts/setup-python-tools.sh installs the
pinned clients):

    check.py jira BASE_URL USER TOKEN
    check.py slack API_URL TOKEN HOOK_URL SIGNING_SECRET SIGNED_REQUEST_JSON

Each walks the operations our connector uses, then prints one JSON object
of what the client saw; the Rust test compares it with the fake's state.
A client exception ends the script with a traceback and a non-zero code.
"""

import json
import sys


def jira(base_url, user, token):
    from jira import JIRA

    client = JIRA(
        server=base_url,
        basic_auth=(user, token),
        options={"rest_api_version": "3"},
        max_retries=0,
    )
    me = client.myself()
    projects = [p.key for p in client.projects()]
    project = client.project("OPS")
    priorities = [p.name for p in client.priorities()]
    created = client.create_issue(
        fields={
            "project": {"key": "OPS"},
            "issuetype": {"name": "Task"},
            "summary": "Printer on floor 3 is jammed",
            "priority": {"name": "High"},
            "labels": ["cube"],
        }
    )
    created.update(fields={"summary": "Printer on floor 3 is jammed again"})
    issue = client.issue(created.key)
    transitions = {t["name"]: t["id"] for t in client.transitions(issue)}
    client.transition_issue(issue, transitions["In Progress"])
    comment = client.add_comment(
        issue,
        {
            "type": "doc",
            "version": 1,
            "content": [
                {
                    "type": "paragraph",
                    "content": [{"type": "text", "text": "On my way"}],
                }
            ],
        },
    )
    comments = [c.id for c in client.comments(issue)]
    found = client.enhanced_search_issues(
        "project = OPS ORDER BY key ASC", maxResults=50, fields="summary,status"
    )
    issue = client.issue(created.key)
    return {
        "myself": me["displayName"],
        "projects": projects,
        "project_name": project.name,
        "issue_types": sorted(t.name for t in project.issueTypes),
        "priorities": priorities,
        "created": created.key,
        "summary": issue.fields.summary,
        "status": issue.fields.status.name,
        "priority": issue.fields.priority.name,
        "labels": list(issue.fields.labels),
        "comment": comment.id,
        "comments": comments,
        "found": [i.key for i in found],
    }


def slack(api_url, token, hook_url, signing_secret, signed_request):
    from slack_sdk import WebClient
    from slack_sdk.signature import SignatureVerifier
    from slack_sdk.webhook import WebhookClient

    client = WebClient(token=token, base_url=api_url.rstrip("/") + "/")
    auth = client.auth_test()
    posted = client.chat_postMessage(
        channel="C0CUBE",
        text="Work order WO-1 opened",
        blocks=[
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*WO-1* Printer jammed"},
            }
        ],
    )
    reply = client.chat_postMessage(
        channel="C0CUBE", text="Assigned to Alice", thread_ts=posted["ts"]
    )
    updated = client.chat_update(
        channel="C0CUBE", ts=posted["ts"], text="Work order WO-1 closed"
    )
    refused = None
    try:
        client.chat_postMessage(channel="C0NOWHERE", text="lost")
    except Exception as error:  # SlackApiError carries the API's answer
        refused = error.response["error"]
    hook = WebhookClient(hook_url).send(text="Work order WO-2 opened")
    # A slash command the fake signs as Slack does, checked by Slack's own
    # verifier (the same check the host's webhook router makes).
    signed = json.loads(signed_request)
    verifier = SignatureVerifier(signing_secret)
    tampered = signed["body"].replace("text=", "text=x")
    return {
        "team_id": auth["team_id"],
        "bot_id": auth["bot_id"],
        "posted_ts": posted["ts"],
        "posted_channel": posted["channel"],
        "reply_thread": reply["message"].get("thread_ts"),
        "updated_ts": updated["ts"],
        "refused": refused,
        "hook_status": hook.status_code,
        "hook_body": hook.body,
        "signature_valid": verifier.is_valid_request(signed["body"], signed["headers"]),
        "tampered_valid": verifier.is_valid_request(tampered, signed["headers"]),
    }


CHECKS = {"jira": jira, "slack": slack}

if __name__ == "__main__":
    name, *args = sys.argv[1:]
    print(json.dumps(CHECKS[name](*args)))
