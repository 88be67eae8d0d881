// Command prep does the two things cluster.sh cannot do portably in bash
// without openssl: it writes the service-account signing key pair, and it
// finds free loopback ports.
//
//	prep keys DIR   writes DIR/sa.key (PKCS#1 RSA private key) and DIR/sa.pub
//	prep ports N    prints N distinct free TCP ports on 127.0.0.1, one a line
//
// The ports are free when printed, not reserved: the caller binds them at
// once. The kernel hands out ephemeral ports, which never include lanemesh
// up's well-known defaults (15000, 15010, 15021, 8080) on a default
// ip_local_port_range (32768-60999).
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "prep:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: prep keys DIR | prep ports N")
	}
	switch args[0] {
	case "keys":
		return keys(args[1])
	case "ports":
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			return fmt.Errorf("ports: %q is not a positive count", args[1])
		}
		return ports(n)
	}
	return fmt.Errorf("unknown subcommand %q: want keys or ports", args[0])
}

func keys(dir string) error {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), priv, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

func ports(n int) error {
	// Hold every listener until all are chosen, so the n ports differ.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		held = append(held, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
