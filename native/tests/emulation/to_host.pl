#!/usr/bin/env perl
# to_host.pl IN.cu OUT.cpp: rewrites a .cu file for the host emulation (include/cuda_host.h): each launch
# kernel<<<grid, block[, smem[, stream]]>>>(args) becomes emu_launch(kernel, dim3(grid), dim3(block), smem, args),
# and an `extern __shared__ float name[]` array a pointer to the launch's dynamic shared memory.
use strict;
use warnings;

my ($in, $out) = @ARGV;
die "usage: to_host.pl IN.cu OUT.cpp\n" unless defined $out;
open(my $fh, '<', $in) or die "to_host.pl: cannot read $in: $!\n";
my $src = do { local $/; <$fh> };
close $fh;
$src =~ s/extern __shared__ float (\w+)\[\];/float *$1 = (float *)emu_dyn_smem;/g;

# Splits a launch configuration at its top-level commas.
sub split_top {
    my ($text) = @_;
    my ($depth, $cur, @parts) = (0, '');
    for my $ch (split //, $text) {
        $depth++ if $ch =~ /[(\[{]/;
        $depth-- if $ch =~ /[)\]}]/;
        if ($ch eq ',' && $depth == 0) { push @parts, $cur; $cur = ''; } else { $cur .= $ch; }
    }
    push @parts, $cur;
    s/^\s+|\s+$//g for @parts;
    return @parts;
}

sub launch {
    my ($kernel, $config, $args) = @_;
    my @c = split_top($config);
    my $smem = @c > 2 ? $c[2] : '0';
    $args = substr($args, 1, -1);
    return "emu_launch($kernel, dim3($c[0]), dim3($c[1]), (size_t)($smem)" . ($args =~ /\S/ ? ", $args" : '') . ')';
}

my $balanced = qr/(\((?:[^()]++|(?-1))*\))/;
$src =~ s/([A-Za-z_][\w:]*(?:<[^<>;()]*>)?)<<<(.*?)>>>\s*$balanced/launch($1, $2, $3)/gse;
open(my $o, '>', "$out.tmp") or die "to_host.pl: cannot write $out.tmp: $!\n";
print $o $src;
close $o or die "to_host.pl: cannot write $out.tmp: $!\n";
rename "$out.tmp", $out or die "to_host.pl: cannot rename $out.tmp: $!\n";
