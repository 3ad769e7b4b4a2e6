// Package subscriptions delivers the events of the durable log (the events
// table) to real-time subscribers: the Relay gives committed events their
// place in one total order and publishes them through a broker; a Feed
// follows one stream for one subscriber, replaying the log after a cursor
// and then continuing live, with no gap and no duplicate.
package subscriptions
