"""A warning as an AWS Chatbot (Amazon Q Developer in chat applications) custom notification.

`POWERCYCLE_NOTICE_FORMAT=chatbot`: the SNS message is the documented event schema
(`version` "1.0", `source` "custom", `content` with `textType` "client-markdown", `title`,
`description`, `nextSteps`), so a Slack or Microsoft Teams channel subscribed to the topic
through Chatbot shows the warning with its links. Links are written `<address|label>`,
the form Chatbot's own samples use and turns into the channel's link markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # notices imports this module when a warning goes out as chatbot
    from powercycle.report.notices import Notice

DESCRIPTION_LIMIT = 8000  # Chatbot drops longer content; a warning is far shorter


def custom_notification(notice: Notice) -> dict[str, Any]:
    """The custom notification event of one warning."""
    label = f"{notice.id} ({notice.name})" if notice.name else notice.id
    where = f"{notice.region}" + (f", account {notice.account}" if notice.account else "")
    description = f"*{label}* ({notice.kind}, {where}). {notice.stop_line()}"
    steps = [f"<{url}|{text[:1].upper()}{text[1:]}>" for text, url in notice.links]
    steps.append(f"Or from a terminal: `powercycle snooze {notice.id} --for 3h`")
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{notice.kind}:{notice.region}:{notice.id}:{notice.tag_value}",
        "content": {
            "textType": "client-markdown",
            "title": f":alarm_clock: {notice.subject()}",
            "description": description[:DESCRIPTION_LIMIT],
            "nextSteps": steps,
            "keywords": [notice.kind, notice.region],
        },
        "metadata": {
            "summary": notice.subject(),
            "eventType": "powercycle-stop-notice",
            "relatedResources": [notice.arn or notice.id],
        },
    }
