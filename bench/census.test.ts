import { describe, expect, it } from 'vitest';
import { messageClass } from './census.js';

describe('census message classes', () => {
  it('tells appends from their deliveries, and names buckets, streams and consumers', () => {
    expect(messageClass('zun.evt.container.c1', '_INBOX.abc.1')).toBe('events_container_published');
    expect(messageClass('zun.evt.container.c1', '$JS.ACK.ZUN_EVENTS.projector.1.5.5.1.0')).toBe('events_container_delivered');
    expect(messageClass('zun.evt.placement.default', undefined)).toBe('events_placement_published');
    expect(messageClass('$KV.zun_desired.h.container.c1', '_INBOX.x.2')).toBe('kv_zun_desired_published');
    expect(messageClass('$KV.zun_containers.c1', '$JS.ACK.KV_zun_containers.oc_1.1.2.2.1.0')).toBe('kv_zun_containers_delivered');
    expect(messageClass('$JS.API.DIRECT.GET.ZUN_EVENTS.zun.evt.quota.default', '_INBOX.x.3')).toBe('direct_gets_ZUN_EVENTS');
    expect(messageClass('$JS.ACK.ZUN_EVENTS.projector.1.5.5.1.0', undefined)).toBe('acks_projector');
    expect(messageClass('_INBOX.abc.1', undefined)).toBe('replies');
    expect(messageClass('$JS.API.CONSUMER.CREATE.ZUN_EVENTS', '_INBOX.x.4')).toBe('jetstream_api');
    expect(messageClass('zun.host.h1.rpc', '_INBOX.x.5')).toBe('other_zun');
  });
});
