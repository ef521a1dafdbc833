"""Shoa's own support queue: a question about no order, from a KakaoTalk user the bot knows nothing of, goes to
Shoa's team; an operator reads and answers it with ``shoa inquiries``; a Kakao skill cannot message first, so the
shopper sees the answer before the bot's next answer to her, once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import sqlalchemy as sa

from support.models import Inquiry
from tests.support.conftest import text_of

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services
    from tests.support.conftest import Kakao


def _shoa(services: Services, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SHOA_")}
    environment["SHOA_DATABASE_URL"] = services.database_url
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "shoa_api", "inquiries", *args],
        env=environment, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_a_question_about_no_order_reaches_shoas_team_and_its_answer_the_shopper(
    kakao: Kakao, services: Services, session: AsyncSession, tmp_path: Path
) -> None:
    stranger = "kakao-stranger-7"
    assert text_of(await kakao.say(stranger, "안녕하세요")).startswith("안녕하세요, Shoa 고객센터 챗봇이에요.")
    first = await kakao.say(stranger, "쿠폰은 어디서 받아요")
    assert text_of(first).startswith("죄송해요, 잘 이해하지 못했어요.")
    handed = await kakao.say(stranger, "앱에서 쿠폰함이 안보여요")
    assert text_of(handed) == (
        "상담 문의를 Shoa 고객센터에 전달했어요. 답변이 오면 이 채팅방에 다시 말을 걸어 주실 때 먼저 보여 드릴게요."
    )
    inquiry = await session.scalar(sa.select(Inquiry).where(Inquiry.chat_user == stranger))
    assert inquiry is not None
    assert (inquiry.mall_id, inquiry.reason, inquiry.status) == (None, "not_understood", "open")

    # An operator lists the queue and answers from the command line.
    listed = await asyncio.to_thread(_shoa, services, "list", "--status", "open", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert str(inquiry.id) in listed.stdout
    assert "앱에서 쿠폰함이 안보여요" in listed.stdout
    shown = await asyncio.to_thread(_shoa, services, "show", str(inquiry.id), cwd=tmp_path)
    assert "쿠폰은 어디서 받아요" in shown.stdout
    answer = "마이페이지 > 쿠폰함에서 확인하실 수 있어요."
    replied = await asyncio.to_thread(_shoa, services, "reply", str(inquiry.id), answer, cwd=tmp_path)
    assert replied.returncode == 0, replied.stderr

    # Her next message: the answer first, then the bot's own; after that, not again.
    following = text_of(await kakao.say(stranger, "고마워요"))
    assert following.startswith(f"[Shoa] {answer}\n\n")
    assert answer not in text_of(await kakao.say(stranger, "배송 조회"))

    closed = await asyncio.to_thread(_shoa, services, "close", str(inquiry.id), cwd=tmp_path)
    assert closed.returncode == 0, closed.stderr
    await session.refresh(inquiry)
    assert inquiry.status == "closed"
    again = await asyncio.to_thread(_shoa, services, "reply", str(inquiry.id), "추가 안내", cwd=tmp_path)
    assert again.returncode != 0
    assert "closed" in again.stderr
