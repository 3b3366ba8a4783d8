fn main() {
    xtask::cli::main()
}
