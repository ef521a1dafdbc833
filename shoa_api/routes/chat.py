"""The chatbot's webhooks: each platform's calls, verified as it documents, answered by ``support``.

KakaoTalk's skill is answered in the response itself; LINE, Instagram and TalkTalk get a 200 at once and their
answers go out through notify's outbox, committed with the turn (see ``support.service``). A messenger user past
the turns a minute the bot answers is not answered: a 429 on KakaoTalk, silence elsewhere (their platforms would
only deliver the refused messages again).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from notify import service as notify_service
from notify.providers.base import Channel
from shoa_api.openapi import problems
from shoa_api.wiring import ChatKit
from shoa_kernel.clock import utc_now
from support import channels
from support.errors import InvalidChatEventError, TooManyTurnsError, WebhookNotVerifiedError

_PROBLEMS = problems(
    WebhookNotVerifiedError("X-Line-Signature does not match the body"),
    InvalidChatEventError("not a LINE webhook: Expected `object`, got `array`"),
)
_TOO_MANY = TooManyTurnsError("at most 30 messages a minute are answered; write again in 12 s", retry_after=12)


@post(
    "/webhooks/chat/kakao",
    operation_id="chat_kakao_skill",
    summary="KakaoTalk channel chatbot: a Kakao i Open Builder skill request, answered with a SkillResponse",
    description="Send the header `X-Shoa-Skill-Secret` from the skill's settings. The answer's `data` holds the "
    "intent recognized and the mall-order the message was about. A KakaoTalk user past the messages a minute the "
    "bot answers (`SHOA_RATE_LIMIT_CHAT_TURNS_PER_USER_PER_MINUTE`) gets a 429.",
    status_code=HTTP_200_OK,
    tags=["webhooks"],
    opt={"body": channels.SkillRequest},
    responses=problems(
        WebhookNotVerifiedError("the skill request's x-shoa-skill-secret header is missing or wrong"),
        InvalidChatEventError("not an Open Builder skill request: Object missing required field `userRequest`"),
        _TOO_MANY,
    ),
)
async def chat_kakao(
    request: Request[Any, Any, Any], db: NamedDependency[AsyncSession], chat: NamedDependency[ChatKit]
) -> dict[str, Any]:
    message = channels.kakao_message(
        request.headers, await request.body(), secret=chat.kakao_skill_secret, bot_id=chat.kakao_bot_id
    )
    if (refused := await chat.turn_refused(message)) is not None:
        raise refused
    answer = await chat.support.receive(db, message, now=utc_now())
    assert answer is not None  # Kakao's requests carry no message id, so none is a redelivery
    return channels.skill_response(answer)


@post(
    "/webhooks/chat/line",
    operation_id="chat_line_webhook",
    summary="LINE Messaging API webhook: each text message answered with its reply token",
    status_code=HTTP_200_OK,
    tags=["webhooks"],
    opt={"body": channels.LineWebhook},
    responses=_PROBLEMS,
)
async def chat_line(
    request: Request[Any, Any, Any], db: NamedDependency[AsyncSession], chat: NamedDependency[ChatKit]
) -> dict[str, int]:
    found = channels.line_messages(request.headers, await request.body(), channel_secret=chat.line_channel_secret)
    answered = 0
    for message, reply_token in found:
        if await chat.turn_refused(message) is None:
            answered += await chat.support.receive(db, message, now=utc_now(), reply_token=reply_token) is not None
    return {"answered": answered}


@get(
    "/webhooks/chat/instagram",
    operation_id="chat_instagram_subscription",
    summary="Meta's webhook subscription check: the challenge, when hub.verify_token is ours",
    status_code=HTTP_200_OK,
    tags=["webhooks"],
    media_type="text/plain",
    responses=problems(WebhookNotVerifiedError("the subscription check's hub.verify_token does not match")),
)
async def chat_instagram_subscription(request: Request[Any, Any, Any], chat: NamedDependency[ChatKit]) -> str:
    return channels.instagram_challenge(dict(request.query_params), verify_token=chat.instagram_verify_token)


@post(
    "/webhooks/chat/instagram",
    operation_id="chat_instagram_webhook",
    summary="Instagram messaging webhook: each message answered in the 24-hour window it opens",
    status_code=HTTP_200_OK,
    tags=["webhooks"],
    opt={"body": channels.InstagramWebhook},
    responses=problems(
        WebhookNotVerifiedError("X-Hub-Signature-256 does not match the body"),
        InvalidChatEventError("not an Instagram webhook: Expected `object`, got `array`"),
    ),
)
async def chat_instagram(
    request: Request[Any, Any, Any], db: NamedDependency[AsyncSession], chat: NamedDependency[ChatKit]
) -> dict[str, int]:
    found = channels.instagram_messages(request.headers, await request.body(), app_secret=chat.instagram_app_secret)
    answered = 0
    for message in found:
        if await chat.turn_refused(message) is None:
            answered += await chat.support.receive(db, message, now=utc_now()) is not None
    return {"answered": answered}


@post(
    "/webhooks/chat/talktalk",
    operation_id="chat_talktalk_webhook",
    summary="Naver TalkTalk chatbot webhook (URL with ?secret=): a shopper's message, answered by the send API",
    status_code=HTTP_200_OK,
    tags=["webhooks"],
    opt={"body": channels.TalkTalkEvent},
    responses=problems(
        WebhookNotVerifiedError("the webhook URL's secret is missing or wrong"),
        InvalidChatEventError("not a TalkTalk event: Object missing required field `event`"),
    ),
)
async def chat_talktalk(
    request: Request[Any, Any, Any], db: NamedDependency[AsyncSession], chat: NamedDependency[ChatKit]
) -> Response[None]:
    opened_by, message = channels.talktalk_event(
        dict(request.query_params), await request.body(), secret=chat.talktalk_webhook_secret
    )
    if message is not None:
        if await chat.turn_refused(message) is None:
            await chat.support.receive(db, message, now=utc_now())
    elif opened_by is not None:  # the shopper opened the chat: we may write to them
        await notify_service.note_inbound(db, channel=Channel.TALKTALK, address=opened_by, now=utc_now())
    return Response(content=None, status_code=HTTP_200_OK)
