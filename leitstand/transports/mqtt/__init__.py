"""The MQTT transport: devices ⇄ broker ⇄ Leitstand, translated to and from canonical messages.

topics    the topic scheme (ls/v1/{serial}/up|down/...), the only place that knows it
codec     JSON payloads ⇄ DeviceMessage / CommandRequest; DecodeError with a RejectReason
embedded  amqtt broker inside Leitstand (zero set-up), logins and ACL from the database
dynsec    Mosquitto device users and roles through the dynamic-security plugin
worker    ingest worker: subscribe, batch, Ingestor.accept(), acknowledge after commit;
          command publishing
"""
