"""Kombu's Redis transport, publishing through one Redis client per channel.

Kombu builds a new ``redis.Redis`` object for every message it publishes; building
one copies its ~170 response callbacks (the same cost ``core.cache`` saves the
cache), and a sale publishes two tasks (its receipt, its stamped copies): about
a fifteenth of the card step's Python calls. The client is a thread-safe handle
on the channel's connection pool, so one per pool does the same work. A pool
replaced (kombu makes a new one after a fork or a lost connection) gets a new
client. settings.py uses this transport for ``redis://`` brokers only.
"""

from kombu.transport import redis


class Channel(redis.Channel):
    _publishing_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._publishing_client
        if client is None or client.connection_pool is not self.pool:
            client = self._publishing_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
