/** Makes sure `binaries` exist, installing Debian's `pkg` with apt-get if not; `who` says what needs it. */
export declare function ensureDebianPackage(pkg: string, binaries: readonly string[], who: string): void;
