"""What the application holds for its lifetime, under typed keys (set up in app.py)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from ledger.clock import Clock
from ledger.config import Settings
from ledger.database import Availability
from ledger.mail.sending import MailSender
from ledger.privacy import KeyRing
from ledger.scheduler import Scheduler
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from ledger.store.wakeups import WakeupHub
from ledger.supervisor import Supervisor
from ledger.transparency.checkpoints import Checkpoints
from ledger.webhooks.delivery import DeliveryWorker
from ledger.webhooks.fanout_runner import FanoutRunner
from projections.read_side import ReadSide
from projections.runner import ProjectionRunner

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
DATABASE_AVAILABILITY = web.AppKey("database_availability", Availability)
SUPERVISOR = web.AppKey("supervisor", Supervisor)
EVENT_STORE = web.AppKey("event_store", EventStore)
READ_SIDE = web.AppKey("read_side", ReadSide)
WAKEUP_HUB = web.AppKey("wakeup_hub", WakeupHub)
KEYRING = web.AppKey("keyring", KeyRing)
SERVICE = web.AppKey("service", ApplicationService)
CLOCK = web.AppKey("clock", Clock)
SCHEDULER = web.AppKey("scheduler", Scheduler)
WEBHOOK_DELIVERY = web.AppKey("webhook_delivery", DeliveryWorker)
WEBHOOK_FANOUT = web.AppKey("webhook_fanout", FanoutRunner)
CHECKPOINTS = web.AppKey("checkpoints", Checkpoints)
# Only while mail is on (an SMTP host is configured).
MAIL_FANOUT = web.AppKey("mail_fanout", ProjectionRunner)
MAIL_SENDER = web.AppKey("mail_sender", MailSender)
