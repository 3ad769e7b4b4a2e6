// Package subscriptions carries the events of the durable log (the events
// table) towards real-time subscribers: the Relay gives committed events
// their place in one total order and publishes them through a broker; a
// Feed follows one stream for one subscriber, replaying the log after a
// cursor and then continuing live, with no gap and no duplicate, and hands
// the entries to subscriptions/delivery.
package subscriptions
