package store

import "testing"

func TestMediumURLFor(t *testing.T) {
	os := OperatingSystem{Name: "CentOS", Major: "9", Minor: "3", ReleaseName: "stream"}
	for path, want := range map[string]string{
		"http://mirror/centos/$major/os/$arch":              "http://mirror/centos/9/os/x86_64",
		"http://mirror/centos/${version}-${release}/$arch/": "http://mirror/centos/9.3-stream/x86_64/",
		"http://mirror/$version/$minor":                     "http://mirror/9.3/3",
		"http://deb.debian.org/debian":                      "http://deb.debian.org/debian",
	} {
		if got := (Medium{Path: path}).URLFor(os, "x86_64"); got != want {
			t.Errorf("%s -> %s, want %s", path, got, want)
		}
	}
	if got := (Medium{Path: "http://m/$version"}).URLFor(OperatingSystem{Major: "12"}, ""); got != "http://m/12" {
		t.Errorf("no minor: %s", got)
	}
}
