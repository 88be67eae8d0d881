package main

import (
	"context"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// runGnet serves on one gnet v2 event loop. Upstream connections are
// dialled with EventLoop.Register, which dials on a worker goroutine and
// then adds the connection to this same loop (OnOpen).
func runGnet(p *proxy, listen string) error {
	p.dial = p.gnetDial
	return gnet.Run(p, "tcp://"+listen,
		gnet.WithMulticore(false), gnet.WithNumEventLoop(1),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogLevel(logging.ErrorLevel))
}

func (p *proxy) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if p.el == nil {
		p.el = c.EventLoop()
	}
	p.open(c)
	return nil, gnet.None
}

func (p *proxy) OnTraffic(c gnet.Conn) gnet.Action { return p.traffic(c) }

func (p *proxy) OnClose(c gnet.Conn, _ error) gnet.Action {
	p.closed(c)
	return gnet.None
}

func (p *proxy) gnetDial(u *upstream) {
	el := p.el
	ch, err := el.Register(gnet.NewContext(context.Background(), u), u.addr)
	if err != nil {
		p.dialFailed(u)
		return
	}
	go func() { // Register reports here, from its worker goroutine
		if res := <-ch; res.Err != nil {
			el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				p.dialFailed(u)
				return nil
			}))
		}
	}()
}
