# Login shells of root: tty1 and ttyS0 run the Ardoise session once; others get a shell.
[ -f ~/.bashrc ] && . ~/.bashrc
export PATH="/opt/ardoise/bin:$PATH"
if [ -z "${ARDOISE_SESSION:-}" ]; then
	case "$(tty)" in
	/dev/tty1|/dev/ttyS0) exec /usr/local/bin/ardoise-session ;;
	esac
fi
